"""Work items past SQS's 256 KB and DynamoDB's 400 KB, through the real adapters on moto
server: an item for an index with thousands of platforms travels compressed; one that does
not fit even compressed travels by reference, its parts in the state table. The replicate
function's reading (the pipeline's codec) gives back the very item."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from freightliner.adapters.aws.dynamo_payloads import DynamoPayloads
from freightliner.adapters.aws.dynamo_state import DynamoStateStore
from freightliner.adapters.aws.sqs_queue import BODY_LIMIT, SqsWorkQueue
from freightliner.domain.digest import Digest
from freightliner.domain.jobs import JobRecord
from freightliner.domain.payloads import COMPRESSED, REFERENCE
from freightliner.domain.work import WorkItem
from freightliner.harness.aws_resources import PipelineResources, create_resources
from freightliner.ports.payloads import PayloadCodec
from tests.support.moto_server import moto_endpoint  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("moto_endpoint")


@pytest.fixture
def resources() -> Iterator[PipelineResources]:
    yield create_resources(boto3.client("sqs"), boto3.client("dynamodb"))


def item(platforms: list[str], tag: str = "v1") -> WorkItem:
    digest = str(Digest.of(b"index"))
    return WorkItem(
        job_id="job-1",
        source=f"src.example/team/app@{digest}",
        destination=f"dst.example/mirror/app:{tag}",
        source_digest=digest,
        platforms=platforms,
    )


def thousands_of_platforms() -> list[str]:
    return [f"linux/arch{n}/v{n % 9}" for n in range(16_000)]  # about 400 KB of JSON


def unique_platforms() -> list[str]:
    rng = random.Random(15)
    return [f"linux/{rng.randbytes(24).hex()}" for _ in range(12_000)]  # hardly compresses


def received(sqs: Any, url: str) -> list[str]:
    bodies: list[str] = []
    for _ in range(5):
        found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        bodies += [m["Body"] for m in found]
        if not found:
            break
    return bodies


def test_oversized_items_go_through_sqs_compressed_or_by_reference(
    resources: PipelineResources,
) -> None:
    sqs = boto3.client("sqs")
    table = boto3.resource("dynamodb").Table(resources.table)
    codec = PayloadCodec(DynamoPayloads(table))
    queue = SqsWorkQueue(sqs, resources.queue_url, payloads=codec)
    compressible, unique = item(thousands_of_platforms()), item(unique_platforms())
    assert len(compressible.model_dump_json()) > 256 * 1024
    small = item(["linux/amd64"])
    queue.send([compressible, unique, small, compressible])

    bodies = received(sqs, resources.queue_url)
    assert len(bodies) == 4 and all(len(body.encode()) <= BODY_LIMIT for body in bodies)
    kinds = sorted(body.split(":", 1)[0] for body in bodies)
    assert kinds == sorted([COMPRESSED[:-1], COMPRESSED[:-1], REFERENCE[:-1], '{"version"'])
    # what the replicate function does with each body (root.payloads: the same codec)
    read = [WorkItem.model_validate_json(codec.unpack(body)) for body in bodies]
    assert sorted(read, key=lambda i: len(i.platforms)) == [
        small,
        unique,
        compressible,
        compressible,
    ]
    parts = table.scan()["Items"]
    stored = [p for p in parts if p["PK"].startswith("PAYLOAD#")]
    assert len(stored) >= 2 and all(p["expires_at"] > time.time() for p in stored)


def test_the_state_table_keeps_oversized_items_and_sends_them_again(
    resources: PipelineResources,
) -> None:
    table = boto3.resource("dynamodb").Table(resources.table)
    state = DynamoStateStore(table)
    items = [item(thousands_of_platforms(), "v1"), item(unique_platforms(), "v2")]
    with pytest.raises(ClientError, match="size"):  # what the row would be without packing
        table.put_item(Item={"PK": "JOB#x", "SK": "ITEM#x", "work": items[1].model_dump_json()})
    job = JobRecord(job_id="job-1", created_at=time.time())
    assert state.create_job(job, items)
    rows = {row["item_id"]: row for row in table.scan()["Items"] if row["SK"].startswith("ITEM#")}
    assert rows[items[0].item_id]["work"].startswith(COMPRESSED)
    assert rows[items[1].item_id]["work"].startswith(REFERENCE)
    claimed = state.claim(items[1])
    assert claimed is not None
    assert sorted(state.reopen("job-1", include_failed=False), key=lambda i: len(i.platforms)) == (
        sorted(items, key=lambda i: len(i.platforms))
    )
