"""Accepting an image event: plan it, record the job, enqueue (or gate) its items.

Nothing is half written: the gate is checked before anything is recorded, and a job whose
items were recorded but not yet all enqueued (a crash in between) is enqueued again when the
event is delivered again; a job already enqueued is a duplicate and does nothing. An item
whose image and destination another job's gate already holds is recorded SKIPPED with that
job's name, so this job does not wait for it forever.
"""

from __future__ import annotations

import logging
import time
from typing import Literal

from pydantic import BaseModel

from freightliner.domain.errors import Unsupported
from freightliner.domain.events import ImageEvent
from freightliner.domain.jobs import JobRecord
from freightliner.domain.rules import RulesDocument
from freightliner.domain.work import ItemStatus
from freightliner.engine.events.planning import EventPlan, plan_event
from freightliner.engine.jobs.authorization import EVENT_ACTION, EVENT_SOURCE, EVENT_TAG
from freightliner.engine.jobs.end import announce_if_closed
from freightliner.ports.work import GateCovered, JobNotifier, ScanGate, StateStore, WorkQueue

log = logging.getLogger(__name__)


class IntakeResult(BaseModel):
    outcome: Literal["enqueued", "duplicate", "no-match"]
    plan: EventPlan


def accept_event(
    event: ImageEvent,
    rules: RulesDocument,
    *,
    queue: WorkQueue,
    state: StateStore,
    gate: ScanGate | None,
    correlation_id: str = "",
    notifier: JobNotifier | None = None,
) -> IntakeResult:
    plan = plan_event(event, rules, correlation_id)
    if not plan.items and not plan.gated:
        log.warning("no rule matches %s %s/%s", event.action, event.registry, event.repository)
        return IntakeResult(outcome="no-match", plan=plan)
    if plan.gated and gate is None:
        names = ", ".join(sorted({g.item.rule for g in plan.gated}))
        raise Unsupported(
            f"rule(s) {names} ask for the scan gate, "
            "but no scan gate is configured in this deployment"
        )
    job = JobRecord(
        job_id=plan.job_id,
        kind="event",
        created_at=time.time(),
        correlation_id=correlation_id or event.event_id,
        detail={
            "event_id": event.event_id,
            EVENT_ACTION: event.action,
            EVENT_SOURCE: str(event.source),
            EVENT_TAG: event.tag or "",
        },
    )
    if not state.create_job(job, plan.items, gated=[g.item for g in plan.gated]):
        existing = state.get_job(plan.job_id)
        if existing is not None and existing.enqueued:
            log.info("event %s already accepted as job %s", event.event_id, plan.job_id)
            return IntakeResult(outcome="duplicate", plan=plan)
    if plan.items:
        queue.send(plan.items)
    if plan.gated and gate is not None:
        for covered in gate.start(plan.gated):
            announce_if_closed(_skip_covered(covered, state), notifier)
    announce_if_closed(state.mark_enqueued(plan.job_id), notifier)  # nothing left to wait for
    return IntakeResult(outcome="enqueued", plan=plan)


def _skip_covered(covered: GateCovered, state: StateStore) -> JobRecord | None:
    """Record the item SKIPPED; returns its job if that closed it."""
    if state.claim(covered.item) is None:
        return None  # recorded on an earlier delivery
    reason = (
        f"the scan gate for this image and destination already runs or ran in job "
        f"{covered.job_id} (execution {covered.execution})"
    )
    log.info("item %s: %s", covered.item.item_id, reason)
    return state.finish(covered.item, ItemStatus.SKIPPED, error=reason, error_kind="gate_covered")
