"""The scan gate's decisions in process: the intake holds a gated item, and the gate's outcome,
recorded through the job store by `record_gate_outcome`, either sends it to the worker or ends
it, closing its job with the same announcement as a job the worker closes. The state machine
only routes; `Deployment.decide` routes as it does (RecordPass -> Enqueue, RecordOutcome)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from freightliner.adapters.memory.registry import MemoryRegistries
from freightliner.domain.events import ImageEvent
from freightliner.domain.jobs import JobRecord, JobStatus, JobSummary
from freightliner.domain.rules import parse_rules
from freightliner.domain.work import GateOutcome, GateRequest, ItemStatus
from freightliner.engine.events.intake import IntakeResult, accept_event
from freightliner.engine.gate.scan_gate import GateRecord, RecordGateRequest, record_gate_outcome
from freightliner.engine.jobs.resume import resume_job
from freightliner.engine.jobs.worker import ItemOutcome, process_item
from tests.support.memory_work import (
    MemoryNotifier,
    MemoryQueue,
    MemoryRejectionLog,
    MemoryScanGate,
    MemoryStateStore,
)
from tests.support.oci_images import Image, layer, push_image

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
PASS = GateOutcome(status=ItemStatus.PENDING, reason="within policy", findings={"HIGH": 1})
BLOCK = GateOutcome(
    status=ItemStatus.BLOCKED,
    reason="2 CRITICAL findings, the policy allows 0",
    error_kind="scan_policy",
    findings={"CRITICAL": 2},
)
BROKEN = GateOutcome(
    status=ItemStatus.FAILED, reason="the scan check failed for good", error_kind="Unavailable"
)


def rules(gate: bool) -> str:
    return (
        "rules:\n  - name: r\n"
        f"    source: {{registry: {ECR}, repository: 'team/*'}}\n"
        "    destinations: [{registry: ghcr.io, repository: 'o/{name}'}]\n"
        f"    scan_gate: {str(gate).lower()}\n"
    )


class Deployment:
    """Registries, queue, job store, notifier, scan gate and rejection log as a deployment has
    them, in memory, with one rule (`gated` or not) replicating team/* from ECR to ghcr.io."""

    def __init__(self, gated: bool = True) -> None:
        self.registries = MemoryRegistries()
        self.queue = MemoryQueue()
        self.state = MemoryStateStore()
        self.notifier = MemoryNotifier()
        self.gate = MemoryScanGate()
        self.rejections = MemoryRejectionLog()
        self.rules = parse_rules(rules(gated))

    def push(self, seed: int = 1) -> Image:
        return push_image(self.registries.client(ECR), "team/app", "v1", [layer(seed)])

    def accept(self, image: Image, event_id: str = "e-1") -> IntakeResult:
        event = ImageEvent(
            event_id=event_id,
            action="push",
            registry=ECR,
            repository="team/app",
            digest=str(image.digest),
            tag="v1",
        )
        return accept_event(
            event,
            self.rules,
            queue=self.queue,
            state=self.state,
            gate=self.gate,
            notifier=self.notifier,
        )

    def held(self) -> GateRequest:
        [request] = self.gate.executions.values()
        return request

    def decide(self, request: GateRequest, outcome: GateOutcome) -> GateRecord:
        """One gate execution's end: record the outcome, and enqueue the item it passed."""
        recorded = record_gate_outcome(
            RecordGateRequest(
                item=request.item,
                policy=request.policy,
                outcome=outcome,
                execution=request.execution_name,
            ),
            self.state,
            self.notifier,
        )
        if outcome.status is ItemStatus.PENDING:
            self.queue.send([request.item])
        return recorded

    def drain(self) -> list[ItemOutcome]:
        outcomes: list[ItemOutcome] = []
        while (item := self.queue.take()) is not None:
            outcomes.append(
                process_item(
                    item,
                    self.registries,
                    self.state,
                    rules=lambda: self.rules,
                    rejections=self.rejections,
                    queue=self.queue,
                    notifier=self.notifier,
                )
            )
        assert self.rejections.rejected == []  # the gate's items are work their job implies
        return outcomes

    def job(self, job_id: str) -> JobRecord:
        job = self.state.get_job(job_id)
        assert job is not None
        return job


def announcements(caplog: pytest.LogCaptureFixture, job_id: str) -> list[dict[str, Any]]:
    """The job-end summaries logged for `job_id`."""
    return [
        summary
        for record in caplog.records
        if (summary := getattr(record, "job_summary", None)) and summary["job_id"] == job_id
    ]


def test_a_gated_item_is_held_and_no_resume_sends_it_while_the_gate_decides() -> None:
    deployment = Deployment()
    result = deployment.accept(deployment.push())
    assert result.outcome == "enqueued" and deployment.queue.sent == 0
    request = deployment.held()
    [record] = deployment.state.list_items(result.plan.job_id)
    assert record.status is ItemStatus.PENDING and record.held_by_gate
    job = deployment.job(result.plan.job_id)
    assert job.status is JobStatus.RUNNING and job.enqueued and job.total == 1
    report = resume_job(
        result.plan.job_id,
        deployment.registries,
        queue=deployment.queue,
        state=deployment.state,
        retry_failed=True,
    )
    assert report.resent == 0 and deployment.queue.sent == 0
    assert request.item.item_id == record.item_id and deployment.notifier.finished == []


def test_a_passed_item_is_enqueued_copied_and_keeps_why_it_passed() -> None:
    deployment = Deployment()
    image = deployment.push()
    job_id = deployment.accept(image).plan.job_id
    request = deployment.held()
    recorded = deployment.decide(request, PASS)
    assert recorded.recorded and recorded.job_closed is None
    assert deployment.job(job_id).status is JobStatus.RUNNING
    [outcome] = deployment.drain()
    assert outcome.outcome == "done" and outcome.digest == str(image.digest)
    head = deployment.registries.client("ghcr.io").head_manifest("o/app", "v1")
    assert head is not None and head.digest == image.digest
    assert outcome.job_closed is not None and outcome.job_closed.status is JobStatus.COMPLETE
    [record] = deployment.state.list_items(job_id)
    assert record.status is ItemStatus.DONE and record.scan_verdict == PASS.reason
    assert record.scan_findings == {"HIGH": 1}
    assert record.gate_execution == request.execution_name
    assert [job.job_id for job in deployment.notifier.finished] == [job_id]


def test_a_blocked_item_closes_its_job_as_the_worker_closes_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="freightliner.engine.jobs.end")
    gated = Deployment()
    gated_job = gated.accept(gated.push()).plan.job_id
    request = gated.held()
    recorded = gated.decide(request, BLOCK)
    assert recorded.recorded and recorded.job_closed is not None
    assert gated.queue.sent == 0 and list(gated.registries.client("ghcr.io").catalog()) == []
    [record] = gated.state.list_items(gated_job)
    assert record.status is ItemStatus.BLOCKED and record.last_error == BLOCK.reason
    assert (record.error_kind, record.scan_findings) == ("scan_policy", {"CRITICAL": 2})
    again = gated.decide(request, BLOCK)  # the state machine retried the task
    assert not again.recorded and again.job_closed is None

    plain = Deployment(gated=False)  # the same job, its image gone: the worker fails it
    image = plain.push()
    plain.registries.client(ECR).delete_manifest("team/app", image.digest)
    plain_job = plain.accept(image, event_id="e-2").plan.job_id
    [failed] = plain.drain()
    assert plain_job != gated_job
    assert failed.outcome == "failed" and failed.job_closed is not None

    for deployment, job_id, word in ((gated, gated_job, "blocked"), (plain, plain_job, "failed")):
        [announced] = deployment.notifier.finished
        assert announced == deployment.job(job_id)
        assert announced.status is JobStatus.COMPLETED_WITH_ERRORS
        assert announced.finished_at is not None and getattr(announced, word) == 1
        [summary] = announcements(caplog, job_id)
        assert summary == JobSummary.of(announced).model_dump(mode="json")
        assert summary["seconds"] is not None and summary["images"] == 1
    assert recorded.job_closed == JobSummary.of(gated.job(gated_job))
    assert failed.job_closed == JobSummary.of(plain.job(plain_job))
    names = {
        job_id: [
            (metric.name, metric.dimensions)
            for metric in JobSummary.of(deployment.job(job_id)).metrics()
        ]
        for deployment, job_id in ((gated, gated_job), (plain, plain_job))
    }
    ended = {"kind": "event", "status": "COMPLETED_WITH_ERRORS"}
    assert names[gated_job] == names[plain_job] == [("Jobs", ended), ("JobSeconds", ended)]


def test_an_item_the_gate_failed_is_not_copied_unscanned_by_a_retry_of_failures() -> None:
    deployment = Deployment()
    job_id = deployment.accept(deployment.push()).plan.job_id
    closed = deployment.decide(deployment.held(), BROKEN).job_closed
    assert closed is not None and closed.failed == 1
    report = resume_job(
        job_id,
        deployment.registries,
        queue=deployment.queue,
        state=deployment.state,
        retry_failed=True,
    )
    assert report.resent == 0 and deployment.queue.sent == 0
    job = deployment.job(job_id)
    assert job.status is JobStatus.COMPLETED_WITH_ERRORS and job.failed == 1
    assert [j.job_id for j in deployment.notifier.finished] == [job_id]


def test_an_image_another_jobs_gate_holds_is_skipped_and_its_job_closes_at_intake() -> None:
    deployment = Deployment()
    image = deployment.push()
    first = deployment.accept(image, event_id="e-1").plan.job_id
    second = deployment.accept(image, event_id="e-2").plan.job_id
    assert first != second and len(deployment.gate.executions) == 1
    [record] = deployment.state.list_items(second)
    assert record.status is ItemStatus.SKIPPED and record.error_kind == "gate_covered"
    assert record.last_error is not None and f"job {first}" in record.last_error
    assert [j.job_id for j in deployment.notifier.finished] == [second]
    assert deployment.job(second).status is JobStatus.COMPLETE
    assert deployment.job(first).status is JobStatus.RUNNING  # still the gate's to decide
