"""From an image event and the rules to the work it implies: one item per destination."""

from __future__ import annotations

from pydantic import BaseModel, Field

from freightliner.domain.events import ImageEvent
from freightliner.domain.reference import Reference
from freightliner.domain.rules import RulesDocument
from freightliner.domain.work import GateRequest, WorkItem, job_id_for


class EventPlan(BaseModel):
    job_id: str
    items: list[WorkItem] = Field(default_factory=list, description="enqueue now")
    gated: list[GateRequest] = Field(default_factory=list, description="wait for a scan first")
    rules: list[str] = Field(default_factory=list)


def plan_event(event: ImageEvent, rules: RulesDocument, correlation_id: str = "") -> EventPlan:
    """The work for one event. Deletes are planned only where a rule mirrors them."""
    job_id = job_id_for(event.event_id, event.digest)
    plan = EventPlan(job_id=job_id)
    source = event.source
    for rule in rules.matching(event.registry, event.repository, event.tag):
        if event.action in ("delete", "untag") and not rule.mirror_deletes:
            continue
        plan.rules.append(rule.name)
        for destination in rule.destinations:
            target = Reference(
                destination.registry,
                destination.repository_for(event.repository),
                event.tag,
                None if event.tag or event.action == "push" else source.digest,
            )
            item = WorkItem(
                action="copy" if event.action == "push" else event.action,
                job_id=job_id,
                source=str(source),
                destination=str(target),
                source_digest=event.digest,
                platforms=rule.platforms,
                referrers=rule.referrers,
                compress=rule.compress,
                rule=rule.name,
                correlation_id=correlation_id or event.event_id,
                pushed_at=event.pushed_at,
            )
            if rule.scan_gate is not None and event.action == "push":
                plan.gated.append(GateRequest(item=item, policy=rule.scan_gate))
            else:
                plan.items.append(item)
    return plan
