"""A tree sync whose work items outgrow SQS's 256 KB and whose definition outgrows a
DynamoDB item's 400 KB (a platform list of thousands, as for an index with thousands of
children) runs end to end on moto server: the items travel compressed through the real
queue, their rows and the job's keep them packed, the copies land."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from freightliner.adapters.aws import sqs_queue
from freightliner.bootstrap.lambda_root import lambda_root
from freightliner.domain.payloads import COMPRESSED
from freightliner.domain.work import WorkItem
from freightliner.engine.jobs.authorization import TREE_DEFINITION
from freightliner.harness.functions import forget_roots, load_handler
from freightliner.harness.lambda_runtime import LocalContext
from freightliner.harness.local_stack import ECR_HOST, GAR_HOST
from tests.e2e.conftest import Stack

PLATFORMS = [f"linux/arch{n}/v{n % 9}" for n in range(24_000)]  # ~500 KB as JSON


def test_a_tree_sync_with_oversized_items_completes(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(2):
        stack.push(f"prod/svc{n}", "v1.0.0", seed=300 + n)
    spec = {
        "name": "prod-to-gar",
        "source": {"registry": ECR_HOST, "prefix": "prod"},
        "destination": {"registry": GAR_HOST, "prefix": "my-project/prod"},
        "platforms": PLATFORMS,
    }
    syncs = tmp_path / "syncs.json"
    syncs.write_text(json.dumps({"syncs": [spec]}))
    monkeypatch.setenv("FREIGHTLINER_SYNCS", str(syncs))
    bodies: list[tuple[str, bool, int]] = []
    real_body = sqs_queue.SqsWorkQueue.body

    def body(self: sqs_queue.SqsWorkQueue, item: WorkItem) -> str:
        text = real_body(self, item)
        bodies.append((item.action, text.startswith(COMPRESSED), len(text.encode())))
        return text

    monkeypatch.setattr(sqs_queue.SqsWorkQueue, "body", body)
    forget_roots()
    reply = load_handler("start_tree").handler({"sync": "prod-to-gar"}, LocalContext())
    assert reply["status"] == "started"
    assert stack.work() == 2 + 2  # two repository items, two images
    # repository items carry no platforms; each image item's 500 KB went compressed
    assert sorted(kind[:2] for kind in bodies) == [
        ("copy", True),
        ("copy", True),
        ("repository", False),
        ("repository", False),
    ]
    assert max(size for *_, size in bodies) < sqs_queue.BODY_LIMIT
    job = lambda_root().state.get_job(reply["job_id"])
    assert job is not None and job.status == "COMPLETE" and job.done == 2
    assert json.loads(job.detail[TREE_DEFINITION])["platforms"] == PLATFORMS
    table = boto3.resource("dynamodb").Table(stack.resources.table)
    [job_row] = [r for r in table.scan()["Items"] if r["SK"] == "JOB"]
    assert job_row["detail"][TREE_DEFINITION].startswith(COMPRESSED)
    rows = [r for r in table.scan()["Items"] if r["SK"].startswith("ITEM#")]
    copies = [r for r in rows if '"repository"' not in r["work"]]
    assert len(copies) == 2 and all(r["work"].startswith(COMPRESSED) for r in copies)
    for n in range(2):
        tags = stack.gar_proxy.requests
        assert any(
            f"my-project/prod/svc{n}/manifests/v1.0.0" in p for m, p, _ in tags if m == "PUT"
        )
