"""The scan gate's work outside the state machine: its two decisions (where an image's
vulnerability scan stands and what comes next; whether its findings pass the policy), its
waits, parked so a scan-finished event can end them early, and the recording of its outcome
through the job store, so a job the gate closes ends as any other.

The state machine owns the waiting and the retries and only routes; these functions look,
answer and record, each safe to repeat. Polling works without any event: a wait nobody ends
simply times out into the next check.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from freightliner.domain.errors import InvalidInput
from freightliner.domain.jobs import JobSummary
from freightliner.domain.scans import ScanPhase, Verdict, evaluate_findings
from freightliner.domain.work import GateOutcome, GateRequest, ItemStatus
from freightliner.engine.audit import AuditEvent, emit, item_trigger
from freightliner.engine.jobs.end import announce_if_closed
from freightliner.ports.payloads import PayloadCodec
from freightliner.ports.scans import ScannerSource, ScanWaits
from freightliner.ports.work import JobNotifier, ScanGate, StateStore

log = logging.getLogger(__name__)


class ScanTask(GateRequest):
    """The held item and its rule's policy, as the state machine passes them to a task."""

    model_config = ConfigDict(extra="forbid")


def unpacked_item(event: Any, payloads: PayloadCodec) -> Any:
    """A task's input with its item unpacked where the execution carries it packed (too
    large for Step Functions as it is: `freightliner.domain.gate_input`); any other input as
    it is, for the task's model to judge."""
    packed = event.get("item") if isinstance(event, dict) else None
    if not isinstance(packed, str):
        return event
    try:
        item = json.loads(payloads.unpack(packed))
    except ValueError:
        raise InvalidInput("scan gate task: its packed item is not JSON") from None
    return {**event, "item": item}


class CheckScanRequest(ScanTask):
    attempt: int = Field(ge=0, description="checks made so far")
    started_at: datetime = Field(description="when the gate started ($$.Execution.StartTime)")


class CheckScanResult(BaseModel):
    next: Literal["wait", "evaluate", "allow", "block"]
    status: str
    attempt: int
    wait_seconds: int = 0
    reason: str = ""


def check_scan(
    request: CheckScanRequest,
    scanners: ScannerSource,
    clock: Callable[[], float] = time.time,
) -> CheckScanResult:
    """Look at the scan once (asking for one on the first look) and say what comes next:
    wait and look again, evaluate the findings, or apply on_scan_error (failed, unsupported,
    or still not finished when the policy's timeout is up)."""
    image = request.image()
    policy = request.policy
    seen = scanners.scanner(image.registry).observe(image, start=request.attempt == 0)
    attempt = request.attempt + 1
    if seen.phase is ScanPhase.COMPLETE:
        return CheckScanResult(next="evaluate", status=seen.status, attempt=attempt)
    if seen.phase is ScanPhase.ERROR:
        detail = f": {seen.description}" if seen.description else ""
        reason = f"scan {seen.status}{detail}"
    else:
        remaining = policy.timeout_seconds - (clock() - request.started_at.timestamp())
        if remaining > 0:
            wait = min(policy.wait_before(request.attempt), max(1, math.ceil(remaining)))
            log.info("scan of %s is %s; next look in %d s", image, seen.status, wait)
            return CheckScanResult(
                next="wait", status=seen.status, attempt=attempt, wait_seconds=wait
            )
        reason = f"no scan result within {policy.timeout_seconds} s, last status {seen.status}"
    return CheckScanResult(
        next=policy.on_scan_error,
        status=seen.status,
        attempt=attempt,
        reason=f"{reason} (on_scan_error: {policy.on_scan_error})",
    )


def evaluate_scan(request: ScanTask, scanners: ScannerSource) -> Verdict:
    """The policy applied to every finding of the image's completed scan."""
    image = request.image()
    verdict = evaluate_findings(scanners.scanner(image.registry).findings(image), request.policy)
    log.info("scan verdict for %s: %s", image, verdict.reason)
    return verdict


class RecordGateRequest(ScanTask):
    """The gate's outcome for its item, with the execution that decided it."""

    outcome: GateOutcome
    execution: str = Field(min_length=1, description="$$.Execution.Id")


class GateRecord(BaseModel):
    recorded: bool = Field(description="False: recorded by an earlier try already")
    job_closed: JobSummary | None = Field(default=None, description="this item ended its job")


def record_gate_outcome(
    request: RecordGateRequest, state: StateStore, notifier: JobNotifier | None
) -> GateRecord:
    """Record the outcome on the held item through the job store (let through: why; held:
    BLOCKED or FAILED, counted on its job), and announce the job's end if this closed it."""
    recorded = state.record_gate(request.item, request.outcome, request.execution)
    outcome = request.outcome
    log.info("scan gate %s item %s: %s", outcome.status, request.item_id, outcome.reason)
    if recorded.recorded:  # a repeated task recorded nothing new: no second audit event
        _audit_verdict(request)
    closed = announce_if_closed(recorded.closed, notifier)
    return GateRecord(recorded=recorded.recorded, job_closed=closed)


GATE_AUDIT_OUTCOME = {ItemStatus.PENDING: "passed", ItemStatus.BLOCKED: "blocked"}


def _audit_verdict(request: RecordGateRequest) -> None:
    item = request.item
    emit(
        AuditEvent(
            audit="gate_verdict",
            trigger=item_trigger(item),
            source=item.source,
            destination=item.destination,
            digest=item.source_digest.split(":", 1)[-1][:12],
            outcome=GATE_AUDIT_OUTCOME.get(request.outcome.status, "failed"),
            detail={
                "reason": request.outcome.reason,
                "execution": request.execution,
                **(
                    {"error_kind": request.outcome.error_kind} if request.outcome.error_kind else {}
                ),
            },
        )
    )


class ParkRequest(BaseModel):
    """A gate about to wait on its image's scan, with the task token that ends the wait."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, repr=False)
    image: str = Field(description="the held item's source, pinned by digest")
    seconds: int = Field(ge=1)


class WakeReport(BaseModel):
    image: str
    parked: int
    woken: int


def park_wait(request: ParkRequest, waits: ScanWaits) -> None:
    waits.park(request.image, request.token, request.seconds)


def wake_waiting_gates(image: str, waits: ScanWaits, gate: ScanGate) -> WakeReport:
    """End the waits parked on `image`: its scan finished, so check it now. Tokens are
    forgotten only once handled, so a retried event wakes what a failed one did not."""
    tokens = waits.parked(image)
    if not tokens:
        log.info("scan of %s finished: no parked gate to wake", image)
        return WakeReport(image=image, parked=0, woken=0)
    woken = gate.wake(tokens)
    waits.forget(image, tokens)
    log.info("scan of %s finished: %d of %d parked gate(s) woken", image, woken, len(tokens))
    return WakeReport(image=image, parked=len(tokens), woken=woken)
