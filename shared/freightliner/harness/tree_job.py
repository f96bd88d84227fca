"""A tree job on the local pipeline (LocalStack): started as the start_tree function starts
it, watched in the state table, its dead letters received from the DLQ. Shared by the
end-to-end outage tests and bench/reliability.py."""

from __future__ import annotations

from typing import Any

import boto3

from freightliner.adapters.aws.dynamo_state import DynamoStateStore
from freightliner.bootstrap.lambda_root import lambda_root
from freightliner.domain.jobs import JobRecord
from freightliner.engine.tree import fanout as tree_fanout
from freightliner.harness.local_stack import REGION

ENDED = ("COMPLETE", "COMPLETED_WITH_ERRORS")


def start_first_sync() -> str:
    """What the start_tree function does for the sync file's first sync; the job's id."""
    root = lambda_root()
    job_id, _ = tree_fanout.start_tree(
        root.syncs.syncs[0],
        root.registry_clients,
        queue=root.queue,
        state=root.state,
        notifier=root.notifier,
    )
    return job_id


def state_monitor(moto_url: str, table: str) -> DynamoStateStore:
    """The state table read straight from moto, around any proxy (the watcher's eyes, not the
    pipeline's)."""
    resource = boto3.resource(
        "dynamodb",
        endpoint_url=moto_url,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any key
    )
    return DynamoStateStore(resource.Table(table))


def finished(job: JobRecord | None) -> int:
    """Items of the job that reached an end (done, skipped or failed)."""
    return 0 if job is None else job.done + job.skipped + job.failed


def receive_dead_letters(sqs: Any, dlq_url: str) -> list[dict[str, Any]]:
    """Every message in the DLQ, received (and hidden for a minute so none counts twice)."""
    letters: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return letters
        letters.extend(batch)
