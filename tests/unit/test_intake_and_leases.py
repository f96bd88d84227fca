"""Intake (plan, record, enqueue) and SQS lease handling, with in-memory fakes of the ports."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from freightliner.domain.errors import Unavailable, Unsupported
from freightliner.domain.events import ImageEvent
from freightliner.domain.jobs import JobRecord
from freightliner.domain.rules import parse_rules
from freightliner.domain.scans import ScanPolicy, Severity
from freightliner.domain.work import GateRequest, ItemStatus, WorkItem
from freightliner.engine.events.intake import accept_event
from freightliner.lambda_support import VisibilityHeartbeat
from freightliner.ports.work import GateCovered, ItemRecord

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
EVENT = ImageEvent(
    event_id="e-1",
    action="push",
    registry=ECR,
    repository="team/app",
    digest="sha256:" + "cd" * 32,
    tag="v1",
)


def rules(gate: bool | str = False) -> str:
    return (
        "rules:\n  - name: r\n"
        f"    source: {{registry: {ECR}, repository: 'team/*'}}\n"
        "    destinations: [{registry: ghcr.io, repository: 'o/{name}'}]\n"
        f"    scan_gate: {str(gate).lower() if isinstance(gate, bool) else gate}\n"
    )


class FakeQueue:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[WorkItem] = []
        self.fail = fail

    def send(self, items: Sequence[WorkItem]) -> None:
        if self.fail:
            raise Unavailable("queue down")
        self.sent += items


class FakeGate:
    def __init__(self, covered_by: str | None = None) -> None:
        self.started: list[GateRequest] = []
        self.covered_by = covered_by

    def start(self, requests: Sequence[GateRequest]) -> list[GateCovered]:
        self.started += requests
        if self.covered_by is None:
            return []
        return [
            GateCovered(item=r.item, execution="gate-x", job_id=self.covered_by) for r in requests
        ]


class FakeState:
    def __init__(self) -> None:
        self.jobs: dict[str, JobRecord] = {}
        self.finished: dict[str, tuple[ItemStatus, str | None, str | None]] = {}

    def create_job(
        self, job: JobRecord, items: Sequence[WorkItem], gated: Sequence[WorkItem] = ()
    ) -> bool:
        if job.job_id in self.jobs:
            return False
        self.jobs[job.job_id] = job.model_copy(update={"total": len(items) + len(gated)})
        return True

    def mark_enqueued(self, job_id: str) -> None:
        self.jobs[job_id].enqueued = True

    def get_job(self, job_id: str) -> JobRecord | None:
        return self.jobs.get(job_id)

    def claim(self, item: WorkItem) -> ItemRecord | None:
        if item.item_id in self.finished:
            return None
        return ItemRecord(
            job_id=item.job_id,
            item_id=item.item_id,
            status=ItemStatus.RUNNING,
            source=item.source,
            destination=item.destination,
            source_digest=item.source_digest,
            attempts=1,
        )

    def finish(
        self,
        item: WorkItem,
        status: ItemStatus,
        *,
        error: str | None = None,
        error_kind: str | None = None,
        **_: object,
    ) -> None:
        self.finished[item.item_id] = (status, error, error_kind)

    def release(self, item: WorkItem, error: str, error_kind: str) -> None:
        raise AssertionError("intake never releases items")

    def list_items(self, job_id: str) -> list[ItemRecord]:
        return []


def test_a_crash_between_record_and_enqueue_is_repaired_on_redelivery() -> None:
    state, broken = FakeState(), FakeQueue(fail=True)
    with pytest.raises(Unavailable):
        accept_event(EVENT, parse_rules(rules()), queue=broken, state=state, gate=None)
    queue = FakeQueue()
    result = accept_event(EVENT, parse_rules(rules()), queue=queue, state=state, gate=None)
    assert result.outcome == "enqueued" and len(queue.sent) == 1
    again = accept_event(EVENT, parse_rules(rules()), queue=queue, state=state, gate=None)
    assert again.outcome == "duplicate" and len(queue.sent) == 1


def test_gate_rules_fail_clearly_before_anything_is_written() -> None:
    state, queue = FakeState(), FakeQueue()
    with pytest.raises(Unsupported, match="no scan gate is configured"):
        accept_event(EVENT, parse_rules(rules(gate=True)), queue=queue, state=state, gate=None)
    assert state.jobs == {} and queue.sent == []


def test_gated_items_are_recorded_and_handed_to_the_gate_with_their_policy() -> None:
    state, queue, gate = FakeState(), FakeQueue(), FakeGate()
    policy = "{max_findings: {HIGH: 2}, on_scan_error: allow}"
    result = accept_event(EVENT, parse_rules(rules(policy)), queue=queue, state=state, gate=gate)
    assert result.outcome == "enqueued" and queue.sent == []
    [request] = gate.started
    assert request.policy == ScanPolicy(max_findings={Severity.HIGH: 2}, on_scan_error="allow")
    assert request.item.source == f"{ECR}/team/app@{EVENT.digest}"
    job = state.jobs[result.plan.job_id]
    assert job.total == 1 and job.enqueued and state.finished == {}


def test_an_item_another_jobs_gate_holds_is_skipped_with_that_jobs_name() -> None:
    state, queue, gate = FakeState(), FakeQueue(), FakeGate(covered_by="evt-earlier")
    accept_event(EVENT, parse_rules(rules(True)), queue=queue, state=state, gate=gate)
    [(status, error, kind)] = state.finished.values()
    assert status is ItemStatus.SKIPPED and kind == "gate_covered"
    assert error is not None and "job evt-earlier (execution gate-x)" in error


def test_no_match_writes_nothing() -> None:
    state, queue = FakeState(), FakeQueue()
    other = EVENT.model_copy(update={"repository": "other/app"})
    result = accept_event(other, parse_rules(rules()), queue=queue, state=state, gate=None)
    assert result.outcome == "no-match" and state.jobs == {} and queue.sent == []


def test_heartbeat_extends_visibility_while_work_runs() -> None:
    calls: list[tuple[str, int]] = []
    with VisibilityHeartbeat(
        lambda receipt, seconds: calls.append((receipt, seconds)), "receipt-1", every=0.02
    ):
        time.sleep(0.15)
    count = len(calls)
    time.sleep(0.06)
    assert count >= 3 and len(calls) == count  # stops with the work
    assert calls[0] == ("receipt-1", 180)
