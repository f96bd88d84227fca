"""A held item too large for Step Functions (a rule naming thousands of platforms, as for an
index with thousands of children) through the scan gate end to end: ECR push → on_ecr_push →
the real ASL interpreted by moto, which holds every state's data and every task's result to
256 KiB as Step Functions does, its Lambda tasks the real handlers → SQS → replicate → "GAR".
The item travels packed (by reference to the state table, or compressed) and comes out whole.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from freightliner.domain.errors import InvalidInput
from freightliner.domain.gate_input import GATE_INPUT_BUDGET, STATE_DATA_LIMIT
from freightliner.domain.payloads import COMPRESSED, REFERENCE
from freightliner.domain.work import ItemStatus
from freightliner.harness.local_stack import ECR_HOST, GAR_HOST
from freightliner.harness.scan_gate import scan_result
from tests.e2e.test_scan_gate import Gate, running_gate

SCATTERED = [f"linux/a{random.Random(n).randbytes(8).hex()}" for n in range(12_000)]
"""~310 KB of JSON that compresses badly: the item goes by reference."""
REGULAR = [f"linux/arch{n}/v{n % 9}" for n in range(24_000)]
"""~500 KB of JSON that compresses to ~40 KB: the item goes compressed."""
GATE = "{first_wait_seconds: 1, max_wait_seconds: 1, timeout_seconds: 60}"
RULES = f"""\
rules:
  - name: huge
    source: {{registry: {ECR_HOST}, repository: "huge/**"}}
    destinations: [{{registry: {GAR_HOST}, repository: "my-project/{{repository}}"}}]
    scan_gate: {GATE}
    platforms: {json.dumps(SCATTERED)}
  - name: regular
    source: {{registry: {ECR_HOST}, repository: "regular/**"}}
    destinations: [{{registry: {GAR_HOST}, repository: "my-project/{{repository}}"}}]
    scan_gate: {GATE}
    platforms: {json.dumps(REGULAR)}
"""


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    with running_gate(tmp_path, RULES) as running:
        yield running


def test_an_item_of_thousands_of_platforms_passes_the_gate_by_reference(gate: Gate) -> None:
    assert len(json.dumps(SCATTERED)) > STATE_DATA_LIMIT  # as it is, it could not start
    image = gate.push("huge/api", "v1", seed=41)
    gate.gate.script_ecr_scan(
        scan_result("huge/api", image.digest, "IN_PROGRESS"),
        scan_result("huge/api", image.digest, "COMPLETE", [("CVE-2024-0002", "LOW")]),
    )
    first = gate.fire("huge/api", "v1", image, event_id="push-1")
    assert first["gated"] == 1
    # the same image under a new event: the running gate's holder is read back from its input
    other = gate.fire("huge/api", "v1", image, event_id="push-2")
    covered = gate.item(other)
    assert covered.status is ItemStatus.SKIPPED and covered.error_kind == "gate_covered"
    assert first["job_id"] in (covered.last_error or "")
    execution = gate.wait(first)
    assert execution["status"] == "SUCCEEDED", execution
    assert len(execution["input"].encode()) <= GATE_INPUT_BUDGET
    carried = json.loads(execution["input"])
    assert carried["item"].startswith(REFERENCE)
    assert carried["held"]["source"] == f"{ECR_HOST}/huge/api@{image.digest}"
    checks = gate.gate.task_calls("check_scan")
    assert len(checks) == 2 and all(c.event["item"] == carried["item"] for c in checks)
    assert [c.result and c.result["next"] for c in checks] == ["wait", "evaluate"]
    [waited] = gate.gate.task_calls("wait_for_scan")
    assert waited.event["image"] == carried["held"]["source"]
    [recorded] = gate.gate.task_calls("record_gate_outcome")
    assert recorded.error is None and recorded.result == {"recorded": True, "job_closed": None}
    # the queue got the item packed as the machine carried it; replicate unpacked it whole
    assert gate.work() == 1
    assert gate.in_gar("my-project/huge/api", "v1") == image.digest
    item = gate.item(first)
    assert item.status is ItemStatus.DONE and item.gate_execution == execution["executionArn"]
    assert gate.job(first).status == "COMPLETE"


def test_a_compressed_item_whose_check_fails_is_recorded_and_announced(gate: Gate) -> None:
    image = gate.push("regular/api", "v1", seed=42)
    detail = "the scanner refused: " + "x" * 25_000  # a long cause, held twice by the machine
    gate.gate.break_task("check_scan", InvalidInput(detail))
    reply = gate.fire("regular/api", "v1", image)
    execution = gate.wait(reply)
    assert execution["status"] == "FAILED", execution
    assert execution["error"] == "InvalidInput" and execution["cause"] == detail
    carried = json.loads(execution["input"])
    assert carried["item"].startswith(COMPRESSED)
    assert len(execution["input"].encode()) <= GATE_INPUT_BUDGET
    [recorded] = gate.gate.task_calls("record_gate_outcome")
    assert recorded.event["item"] == carried["item"] and recorded.error is None
    item = gate.item(reply)
    assert item.status is ItemStatus.FAILED and item.error_kind == "InvalidInput"
    assert item.last_error == detail
    [event] = gate.gate.announcements()
    assert event["detail-type"] == "Freightliner Scan Gate FAILED"
    assert event["detail"]["source"] == f"{ECR_HOST}/regular/api@{image.digest}"
    assert event["detail"]["destination"] == f"{GAR_HOST}/my-project/regular/api:v1"
    assert event["detail"]["job_id"] == reply["job_id"] and event["detail"]["rule"] == "regular"
    assert gate.work() == 0 and gate.gate.task_calls("evaluate_findings") == []
