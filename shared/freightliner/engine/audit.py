"""The audit trail: one JSON event for every copy, mirrored delete (or untag), scan-gate
verdict and secret write, saying what triggered it, what it touched and how it ended.

Events go to the `freightliner.audit` logger with `log_type: "AUDIT"`: in a function they
are lines of its own log (like every other line) and are also written to the audit log group
(`FREIGHTLINER_AUDIT_LOG_GROUP`, retained 365 days, beyond the items' 30-day TTL) by the
handler the composition root attaches; in the CLI they are on stderr and in the CLI's log
group when it ships one. Digests are 12-character prefixes, as in every log line.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from freightliner.domain.work import WorkItem

AUDIT_LOGGER = "freightliner.audit"
AUDIT_MARKER = "AUDIT"
audit_log = logging.getLogger(AUDIT_LOGGER)

AuditKind = Literal["copy", "delete", "untag", "gate_verdict", "secret_write"]


class AuditTrigger(BaseModel):
    """Who or what caused the action: the job (its kind says event, tree sync, CLI), the
    replication rule, the event's correlation id, or the principal a person acted as."""

    job_id: str = ""
    job_kind: str = ""
    rule: str = ""
    correlation_id: str = ""
    principal: str = ""


class AuditEvent(BaseModel):
    audit: AuditKind
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    trigger: AuditTrigger
    source: str = ""
    destination: str = ""
    digest: str = Field(default="", description="12-character prefix")
    outcome: str = Field(
        description="done, skipped, failed, blocked, passed, success, or the error kind"
    )
    detail: dict[str, str] = Field(default_factory=dict)


def item_trigger(item: WorkItem, job_kind: str = "") -> AuditTrigger:
    return AuditTrigger(
        job_id=item.job_id,
        job_kind=job_kind,
        rule=item.rule,
        correlation_id=item.trace_id,
    )


def emit(event: AuditEvent) -> None:
    """One INFO line (WARNING when the action failed) carrying the event's fields."""
    failed = event.outcome not in ("done", "skipped", "passed", "success")
    audit_log.log(
        logging.WARNING if failed else logging.INFO,
        "audit %s %s",
        event.audit,
        event.outcome,
        extra={"log_type": AUDIT_MARKER, **event.model_dump(mode="json")},
    )


def audit_item(item: WorkItem, outcome: str, job_kind: str = "", **detail: str) -> None:
    """The audit event of a work item's copy, delete or untag."""
    if item.action == "repository":
        return  # a tree page's expansion is not an action on an image
    emit(
        AuditEvent(
            audit=item.action,
            trigger=item_trigger(item, job_kind),
            source=item.source,
            destination=item.destination,
            digest=item.source_digest.split(":", 1)[-1][:12],
            outcome=outcome,
            detail=detail,
        )
    )
