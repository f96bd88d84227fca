"""The scan gate's execution input within Step Functions' limits: an item too large for it
travels packed (compressed, else by reference), the tasks unpack it, and the machine's data
stays under 256 KiB on every path, the failure paths with their error causes included."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest

from freightliner.domain.digest import Digest
from freightliner.domain.errors import InvalidInput
from freightliner.domain.gate_input import (
    GATE_INPUT_BUDGET,
    STATE_DATA_LIMIT,
    GateInput,
    HeldItem,
    gate_input,
)
from freightliner.domain.payloads import COMPRESSED, REFERENCE
from freightliner.domain.scans import ScanPolicy
from freightliner.domain.work import GateRequest, WorkItem
from freightliner.engine.gate.scan_gate import CheckScanRequest, RecordGateRequest, unpacked_item
from freightliner.harness.scan_gate import DEFINITION
from freightliner.ports.payloads import PayloadCodec
from tests.unit.test_work_payloads import DictStore

CAUSE = 32_768  # Step Functions' longest error cause


def request(platforms: list[str], policy: ScanPolicy | None = None) -> GateRequest:
    digest = str(Digest.of(b"held"))
    item = WorkItem(
        job_id="job-1",
        source=f"1.dkr.ecr.us-east-1.amazonaws.com/app@{digest}",
        destination="europe-docker.pkg.dev/p/r/app:v1",
        source_digest=digest,
        platforms=platforms,
        rule="gated",
    )
    return GateRequest(item=item, policy=policy or ScanPolicy())


def many(count: int) -> list[str]:
    return [f"linux/arch{n}/v{n % 9}" for n in range(count)]  # compresses well


def scattered(count: int) -> list[str]:
    """Platforms that compress badly: random names."""
    rng = random.Random(15)
    return [f"linux/a{rng.randbytes(8).hex()}" for _ in range(count)]


def refuse(text: str, limit: int) -> str:
    raise AssertionError("a request that fits is not packed")


def test_a_request_that_fits_travels_as_it_is_with_its_held_fields() -> None:
    held = request(many(10))
    text = gate_input(held, refuse)
    data = json.loads(text)
    assert WorkItem.model_validate(data["item"]) == held.item
    assert data["held"] == {
        "source": held.item.source,
        "destination": held.item.destination,
        "rule": "gated",
        "job_id": "job-1",
    }
    assert data["item_id"] == held.item_id and data["correlation_id"] == held.correlation_id
    assert GateInput.model_validate_json(text).job_id == "job-1"


def test_an_item_of_thousands_of_platforms_travels_compressed_and_unpacks_whole() -> None:
    held = request(many(24_000))  # ~500 KB of JSON
    assert len(held.model_dump_json()) > STATE_DATA_LIMIT
    text = gate_input(held, PayloadCodec().pack)
    assert len(text.encode()) <= GATE_INPUT_BUDGET
    data = json.loads(text)
    assert data["item"].startswith(COMPRESSED)
    assert GateInput.model_validate_json(text).job_id == "job-1"
    event = {"item": data["item"], "policy": data["policy"], "attempt": 0}
    event["started_at"] = "2026-11-25T21:00:00Z"
    task = CheckScanRequest.model_validate(unpacked_item(event, PayloadCodec()))
    assert task.item == held.item and task.image().digest == held.image().digest


def test_one_that_compresses_badly_goes_by_reference_through_the_store() -> None:
    store = DictStore()
    held = request(scattered(12_000))
    text = gate_input(held, PayloadCodec(store).pack)
    assert len(text.encode()) <= GATE_INPUT_BUDGET
    packed = json.loads(text)["item"]
    assert packed.startswith(REFERENCE) and len(store.stored) == 1
    event = unpacked_item({"item": packed}, PayloadCodec(store))
    assert WorkItem.model_validate(event["item"]) == held.item
    with pytest.raises(InvalidInput, match="no payload store"):
        unpacked_item({"item": packed}, PayloadCodec())  # the reading side needs the store


def test_the_item_gets_the_room_the_rest_of_the_input_leaves() -> None:
    limits: list[int] = []

    def pack(text: str, limit: int) -> str:
        limits.append(limit)
        return PayloadCodec().pack(text, limit)

    policy = ScanPolicy(allow=[f"CVE-2024-{n:05d}" for n in range(2_000)])  # ~34 KB
    held = request(many(24_000), policy)
    text = gate_input(held, pack)
    assert len(text.encode()) <= GATE_INPUT_BUDGET
    rest = len(text.encode()) - len(json.loads(text)["item"])  # its quotes included
    [limit] = limits
    assert limit == GATE_INPUT_BUDGET - rest
    with pytest.raises(InvalidInput, match="besides its item exceeds 20000 bytes"):
        gate_input(held, pack, budget=20_000)  # the policy alone takes more


def test_an_input_from_before_items_were_packed_still_names_its_job() -> None:
    legacy = request(many(3)).model_dump_json()  # what earlier versions started with
    assert GateInput.model_validate_json(legacy).job_id == "job-1"
    data = json.loads(legacy) | {"item": COMPRESSED + "AAAA"}
    with pytest.raises(InvalidInput, match="without its held fields"):
        _ = GateInput.model_validate(data).job_id


@pytest.mark.parametrize(
    "event",
    [None, [], "text", {}, {"item": None}, {"item": {"job_id": "j"}}, {"item": 3}],
)
def test_tasks_without_a_packed_item_are_left_to_their_model(event: Any) -> None:
    assert unpacked_item(event, PayloadCodec()) == event


@pytest.mark.parametrize("packed", ["not json", COMPRESSED + "!!", REFERENCE + "zz:1"])
def test_a_mangled_packed_item_is_invalid_input(packed: str) -> None:
    with pytest.raises(InvalidInput):
        unpacked_item({"item": packed}, PayloadCodec(DictStore()))


def test_the_machine_data_stays_under_the_limit_on_the_longest_failure_path() -> None:
    """The worst the machine holds: an input at the budget, a check's answer, an error of
    the longest cause, the outcome quoting it, and the recording's own error beside them."""
    policy = ScanPolicy(allow=[f"CVE-2024-{n:05d}" for n in range(1_000)])
    text = gate_input(request(scattered(12_000), policy), PayloadCodec(DictStore()).pack)
    data = json.loads(text)
    data["item"] = data["item"] + " " * (GATE_INPUT_BUDGET - len(text.encode()))  # at budget
    data["scan"] = {"next": "block", "status": "FAILED", "attempt": 9, "wait_seconds": 0}
    data["scan"]["reason"] = "r" * 1_000
    data["error"] = {"Error": "e" * 256, "Cause": "c" * CAUSE}
    data["outcome"] = {"status": "FAILED", "reason": "c" * CAUSE, "error_kind": "e" * 256}
    data["outcome"]["findings"] = {}
    data["recording_error"] = {"Error": "e" * 256, "Cause": "c" * CAUSE}
    assert len(json.dumps(data).encode()) <= STATE_DATA_LIMIT
    payload = {k: data[k] for k in ("item", "policy", "outcome")} | {"execution": "x" * 300}
    assert len(json.dumps(payload).encode()) <= STATE_DATA_LIMIT  # RecordOutcome's invoke
    assert set(payload) <= set(RecordGateRequest.model_fields)  # the task takes these keys


def test_the_machine_reads_no_field_of_the_item_itself() -> None:
    """The item may be a packed string: the machine passes it whole, and reads its fields
    from `held` (which has every field it reads)."""
    definition = DEFINITION.read_text()
    assert not re.search(r"\$\.item\.", definition)
    read = set(re.findall(r"\$\.held\.([a-z_]+)", definition))
    assert read and read <= set(HeldItem.model_fields)
