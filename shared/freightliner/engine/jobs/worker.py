"""Running one WorkItem: claim it, copy (or delete), record the outcome.

Retryable and configuration failures release the item and re-raise, so the queue delivers
it again later;
permanent failures are recorded FAILED with their reason and not raised, so the message is
removed instead of bouncing to the dead-letter queue. A duplicate delivery of a finished item
does no work. An item its job does not imply (see work_authorization) is recorded as rejected
and never claimed, counted or run.

Every outcome is one log line (`item_log`: a permanent failure one ERROR line with its error
kind and item) and every copy, delete or untag that ran one audit event (`engine.audit`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from freightliner.domain.digest import Digest
from freightliner.domain.errors import FreightlinerError, InvalidInput
from freightliner.domain.jobs import JobRecord, JobSummary
from freightliner.domain.reference import Reference
from freightliner.domain.rules import RulesDocument
from freightliner.domain.work import ItemStatus, WorkItem
from freightliner.engine.audit import audit_item
from freightliner.engine.copying.copy import Copier
from freightliner.engine.copying.models import CopyOptions, CopyReport
from freightliner.engine.jobs.authorization import rejection_reason
from freightliner.engine.jobs.end import announce
from freightliner.engine.jobs.item_log import log_failed, log_finished
from freightliner.engine.tree.fanout import expand_repository
from freightliner.ports.registry import ClientSource
from freightliner.ports.rejections import RejectionLog
from freightliner.ports.work import JobNotifier, StateStore, WorkQueue


class ItemOutcome(BaseModel):
    item_id: str
    job_id: str
    outcome: Literal["done", "skipped", "failed", "rejected"]
    reason: str = Field(default="", description="why skipped: up-to-date, absent, duplicate")
    source: str
    destination: str
    digest: str | None = None
    bytes: int = 0
    seconds: float = 0.0
    error: dict[str, object] | None = None
    job_closed: JobSummary | None = Field(default=None, description="this item ended its job")


def _delete(clients: ClientSource, item: WorkItem) -> ItemStatus:
    """Delete the destination manifest only if it still is the deleted source image."""
    target = Reference.parse(item.destination)
    client = clients.client(target.registry)
    expected = Digest.parse(item.source_digest)
    current = client.head_manifest(target.repository, target.identifier)
    if current is None or current.digest != expected:
        return ItemStatus.SKIPPED
    client.delete_manifest(target.repository, expected)
    return ItemStatus.DONE


def _untag(clients: ClientSource, item: WorkItem) -> ItemStatus:
    """Remove the destination tag (the source's tag was deleted, its image kept)."""
    target = Reference.parse(item.destination)
    if target.tag is None:
        raise InvalidInput(f"an untag item names no tag: {item.destination}")
    client = clients.client(target.registry)
    if client.head_manifest(target.repository, target.tag) is None:
        return ItemStatus.SKIPPED
    client.delete_tag(target.repository, target.tag)
    return ItemStatus.DONE


def process_item(
    item: WorkItem,
    clients: ClientSource,
    state: StateStore,
    jobs: int = 8,
    *,
    rules: Callable[[], RulesDocument],
    rejections: RejectionLog,
    queue: WorkQueue | None = None,
    notifier: JobNotifier | None = None,
    attempt: int = 1,
) -> ItemOutcome:
    """Run one item its job implies; when it was the job's last, announce the job's end.
    `rules` loads the current replication rules (event jobs are checked against them);
    `attempt` (the delivery count) goes into the outcome's log line."""
    job = state.get_job(item.job_id)
    reason = rejection_reason(item, job, rules)
    if reason is not None:
        rejections.record(item, reason)
        error = InvalidInput(f"work item rejected: {reason}")
        log_failed(item, error, attempt, "rejected")
        return ItemOutcome(
            item_id=item.item_id,
            job_id=item.job_id,
            outcome="rejected",
            source=item.source,
            destination=item.destination,
            error=error.to_dict(),
        )
    outcome, closed = _run(item, clients, state, jobs, queue, attempt=attempt)
    job_kind = job.kind if job else ""
    if outcome.outcome == "failed":
        kind = str((outcome.error or {}).get("error", "error"))
        audit_item(item, "failed", job_kind, error_kind=kind)
    elif outcome.reason != "duplicate":
        log_finished(
            item, outcome.outcome, attempt, bytes_copied=outcome.bytes, seconds=outcome.seconds
        )
        detail = {"reason": outcome.reason} if outcome.reason else {}
        audit_item(item, outcome.outcome, job_kind, **detail)
    if closed is not None:
        outcome.job_closed = announce(closed, notifier)
    return outcome


def _run(
    item: WorkItem,
    clients: ClientSource,
    state: StateStore,
    jobs: int,
    queue: WorkQueue | None,
    *,
    attempt: int,
) -> tuple[ItemOutcome, JobRecord | None]:
    base = {
        "item_id": item.item_id,
        "job_id": item.job_id,
        "source": item.source,
        "destination": item.destination,
    }
    if state.claim(item) is None:  # already finished: logged and audited when it did
        return ItemOutcome(outcome="skipped", reason="duplicate", **base), None
    try:
        if item.action == "repository":
            if queue is None:
                raise InvalidInput("a repository item needs the work queue to expand into")
            closed = expand_repository(item, clients, queue=queue, state=state)
            return ItemOutcome(outcome="done", **base), closed
        if item.action in ("delete", "untag"):
            status = _delete(clients, item) if item.action == "delete" else _untag(clients, item)
            closed = state.finish(item, status)
            if status is ItemStatus.DONE:
                return ItemOutcome(outcome="done", **base), closed
            return ItemOutcome(outcome="skipped", reason="absent", **base), closed
        options = CopyOptions(
            platforms=item.platforms,
            referrers=item.referrers,
            force=item.force,
            verify=item.verify,
            jobs=jobs,
        )
        with Copier(clients, options) as copier:
            report: CopyReport = copier.copy(
                Reference.parse(item.source), Reference.parse(item.destination)
            )
    except FreightlinerError as exc:
        if not exc.outcome.acknowledged:
            state.release(item, str(exc), exc.kind)
            raise
        closed = state.finish(item, ItemStatus.FAILED, error=str(exc), error_kind=exc.kind)
        log_failed(item, exc, attempt, "failed")
        return ItemOutcome(outcome="failed", error=exc.to_dict(), **base), closed
    status = ItemStatus.SKIPPED if report.status == "up-to-date" else ItemStatus.DONE
    closed = state.finish(item, status, bytes_copied=report.bytes_copied, digest=report.digest)
    outcome = ItemOutcome(
        outcome="done" if status is ItemStatus.DONE else "skipped",
        reason="" if status is ItemStatus.DONE else "up-to-date",
        digest=report.digest,
        bytes=report.bytes_copied,
        seconds=report.seconds,
        **base,
    )
    return outcome, closed
