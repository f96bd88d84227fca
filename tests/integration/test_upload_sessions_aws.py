"""The handoff's AWS adapters on moto in server mode: upload sessions as rows in their work
item's partition of the state table, and an item re-sent as a new SQS message."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

from freightliner.adapters.aws.dynamo_state import DynamoStateStore
from freightliner.adapters.aws.dynamo_uploads import SESSION_SECONDS, DynamoUploadSessions
from freightliner.adapters.aws.sqs_queue import SqsWorkQueue
from freightliner.adapters.aws.table_schema import TTL_ATTRIBUTE
from freightliner.domain.jobs import JobRecord
from freightliner.domain.uploads import UploadOwner, UploadSession
from freightliner.domain.work import WorkItem
from freightliner.harness.aws_resources import PipelineResources, create_resources

ITEM = WorkItem(
    job_id="job-1",
    source="src.test/team/app@sha256:" + "a" * 64,
    destination="dst.test/mirror/app:v1",
    source_digest="sha256:" + "a" * 64,
    correlation_id="corr-1",
)
DIGEST = "sha256:" + "b" * 64


@pytest.fixture
def resources(moto_endpoint: str) -> Iterator[PipelineResources]:
    yield create_resources(
        boto3.client("sqs", region_name="us-east-1"),
        boto3.client("dynamodb", region_name="us-east-1"),
    )


def test_an_upload_session_lives_with_its_item_and_stays_out_of_its_listing(
    resources: PipelineResources,
) -> None:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(resources.table)
    state = DynamoStateStore(table)
    assert state.create_job(JobRecord(job_id="job-1", created_at=1.0), [ITEM])
    sessions = DynamoUploadSessions(table, clock=lambda: 1000.0)
    owner = UploadOwner(ITEM.job_id, ITEM.item_id)
    assert sessions.get(owner, DIGEST) is None
    first = UploadSession(digest=DIGEST, size=10, location="https://r.test/u/1?_state=a", offset=4)
    sessions.save(owner, first)
    sessions.save(owner, first.model_copy(update={"offset": 8, "location": "https://r.test/u/2"}))
    found = sessions.get(owner, DIGEST)
    assert found is not None and found.offset == 8 and found.location == "https://r.test/u/2"
    row = table.get_item(Key={"PK": "JOB#job-1", "SK": f"UPLOAD#{ITEM.item_id}#{DIGEST}"})
    assert int(row["Item"][TTL_ATTRIBUTE]) == 1000 + SESSION_SECONDS
    assert [record.item_id for record in state.list_items("job-1")] == [ITEM.item_id]
    assert "r.test" not in repr(found)  # the registry's session URL stays out of reprs
    sessions.drop(owner, DIGEST)
    assert sessions.get(owner, DIGEST) is None


def test_a_requeued_item_is_a_new_message_with_its_correlation(
    resources: PipelineResources,
) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = SqsWorkQueue(sqs, resources.queue_url)
    queue.requeue(ITEM, delay_seconds=0)
    queue.requeue(ITEM, delay_seconds=5000)  # past SQS's limit: sent at its 15 minutes
    got = sqs.receive_message(
        QueueUrl=resources.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert len(got) == 1  # the delayed one is not visible yet
    assert WorkItem.model_validate(json.loads(got[0]["Body"])) == ITEM
    assert got[0]["MessageAttributes"]["correlation_id"]["StringValue"] == "corr-1"
