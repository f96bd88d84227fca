"""A copy that outlives its Lambda invocation, through the real replicate handler on the
local pipeline (moto SQS and DynamoDB, registries on loopback): near the deadline the copy
stops between chunks, its upload session is recorded in the state table, the item goes out
as a new message and the delivered one is acknowledged; the next invocations continue from
the registry's offset until the image lands, every chunk sent once."""

from __future__ import annotations

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from freightliner.bootstrap.lambda_root import lambda_root
from freightliner.domain.work import ItemStatus
from freightliner.environment import ENV_HANDOFF_MARGIN, ENV_RESUMABLE_UPLOAD_BYTES
from freightliner.harness.functions import forget_roots
from freightliner.harness.images import RandomBlob
from freightliner.harness.lambda_runtime import poll_once
from freightliner.harness.local_stack import GAR_HOST
from tests.e2e.conftest import Stack
from tests.support.skopeo import skopeo_digest

CHUNK = 1024 * 1024
LAYER = RandomBlob(31, 6 * CHUNK + 1)


class ShortInvocation:
    """A Lambda context whose clock runs 4 s per look: with a 10 s margin the copy sees its
    deadline near after a few chunks (the worker looks once per blob and once per chunk)."""

    function_name = "freightliner-replicate"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:replicate"
    aws_request_id = "req-1"

    def __init__(self) -> None:
        self.left_ms = 30_000

    def get_remaining_time_in_millis(self) -> int:
        self.left_ms -= 4_000
        return self.left_ms


def messages(stack: Stack) -> int:
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=stack.resources.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def upload_rows(stack: Stack, job_id: str) -> list[dict[str, object]]:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(stack.resources.table)
    rows = table.query(
        KeyConditionExpression=Key("PK").eq(f"JOB#{job_id}") & Key("SK").begins_with("UPLOAD#")
    )["Items"]
    return list(rows)


def test_a_copy_near_its_deadline_hands_off_and_completes(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = stack.local.workdir / "registries.yaml"
    config.write_text(
        config.read_text().replace(
            f"  - host: {GAR_HOST}\n", f"  - host: {GAR_HOST}\n    chunk_size: {CHUNK}\n"
        )
    )
    monkeypatch.setenv(ENV_RESUMABLE_UPLOAD_BYTES, str(2 * CHUNK))
    monkeypatch.setenv(ENV_HANDOFF_MARGIN, "10")
    forget_roots()
    image = stack.local.push_ecr("team/big", "v1", [LAYER])
    reply = stack.fire(stack.ecr_event(image, "team/big", "v1"))
    assert reply["status"] == "enqueued"

    def invoke(event: dict[str, object], _context: object) -> object:
        return stack.replicate.handler(event, ShortInvocation())

    assert poll_once(stack.sqs, stack.resources.queue_url, invoke) == 1
    [item] = lambda_root().state.list_items(reply["job_id"])
    assert item.status is ItemStatus.PENDING and item.error_kind == "handoff"
    [row] = upload_rows(stack, reply["job_id"])
    assert 0 < int(str(row["offset"])) < LAYER.size
    assert messages(stack) == 1  # the delivered message was acknowledged, a new one sent

    invocations = 1
    while poll_once(stack.sqs, stack.resources.queue_url, invoke):
        invocations += 1
        assert invocations < 10, "the copy never finished"
    assert invocations >= 3
    assert skopeo_digest(f"{stack.gar.host}/my-project/apps/team/big:v1") == image.digest
    job = lambda_root().state.get_job(reply["job_id"])
    assert job is not None and job.status == "COMPLETE" and job.done == 1
    assert upload_rows(stack, reply["job_id"]) == []
    config_and_manifest = image.size - LAYER.size
    assert stack.gar_proxy.body_bytes <= LAYER.size + config_and_manifest  # no chunk twice
