"""Running one WorkItem: claim it, copy (or delete), record the outcome.

Retryable and configuration failures release the item and re-raise, so the queue delivers
it again later;
permanent failures are recorded FAILED with their reason and not raised, so the message is
removed instead of bouncing to the dead-letter queue. A duplicate delivery of a finished item
does no work. An item its job does not imply (see work_authorization) is recorded as rejected
and never claimed, counted or run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from freightliner.domain.digest import Digest
from freightliner.domain.errors import FreightlinerError, InvalidInput
from freightliner.domain.jobs import JobRecord, JobSummary
from freightliner.domain.reference import Reference
from freightliner.domain.rules import RulesDocument
from freightliner.domain.work import ItemStatus, WorkItem
from freightliner.engine.copying.copy import Copier
from freightliner.engine.copying.models import CopyOptions, CopyReport
from freightliner.engine.jobs.authorization import rejection_reason
from freightliner.engine.jobs.end import announce
from freightliner.engine.tree.fanout import expand_repository
from freightliner.ports.registry import ClientSource
from freightliner.ports.rejections import RejectionLog
from freightliner.ports.work import JobNotifier, StateStore, WorkQueue

log = logging.getLogger(__name__)


class ItemOutcome(BaseModel):
    item_id: str
    job_id: str
    outcome: Literal["done", "skipped", "failed", "duplicate", "rejected"]
    source: str
    destination: str
    digest: str | None = None
    bytes: int = 0
    seconds: float = 0.0
    compress_bytes_before: int = 0
    compress_bytes_after: int = 0
    compress_seconds: float = 0.0
    compress_fallback: bool = False
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
) -> ItemOutcome:
    """Run one item its job implies; when it was the job's last, announce the job's end.
    `rules` loads the current replication rules (event jobs are checked against them)."""
    reason = rejection_reason(item, state.get_job(item.job_id), rules)
    if reason is not None:
        rejections.record(item, reason)
        log.warning("item %s of job %s rejected: %s", item.item_id, item.job_id, reason)
        return ItemOutcome(
            item_id=item.item_id,
            job_id=item.job_id,
            outcome="rejected",
            source=item.source,
            destination=item.destination,
            error=InvalidInput(f"work item rejected: {reason}").to_dict(),
        )
    outcome, closed = _run(item, clients, state, jobs, queue)
    if closed is not None:
        outcome.job_closed = announce(closed, notifier)
    return outcome


def _run(
    item: WorkItem,
    clients: ClientSource,
    state: StateStore,
    jobs: int,
    queue: WorkQueue | None,
) -> tuple[ItemOutcome, JobRecord | None]:
    base = {
        "item_id": item.item_id,
        "job_id": item.job_id,
        "source": item.source,
        "destination": item.destination,
    }
    if state.claim(item) is None:
        log.info("item %s already finished; duplicate delivery ignored", item.item_id)
        return ItemOutcome(outcome="duplicate", **base), None
    try:
        if item.action == "repository":
            if queue is None:
                raise InvalidInput("a repository item needs the work queue to expand into")
            closed = expand_repository(item, clients, queue=queue, state=state)
            return ItemOutcome(outcome="done", **base), closed
        if item.action in ("delete", "untag"):
            status = _delete(clients, item) if item.action == "delete" else _untag(clients, item)
            closed = state.finish(item, status)
            done = status is ItemStatus.DONE
            return ItemOutcome(outcome="done" if done else "skipped", **base), closed
        options = CopyOptions(
            platforms=item.platforms,
            referrers=item.referrers,
            force=item.force,
            verify=item.verify,
            jobs=jobs,
            compress=item.compress,
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
        log.warning("item %s failed: %s", item.item_id, exc)
        return ItemOutcome(outcome="failed", error=exc.to_dict(), **base), closed
    status = ItemStatus.SKIPPED if report.status == "up-to-date" else ItemStatus.DONE
    closed = state.finish(item, status, bytes_copied=report.bytes_copied, digest=report.digest)
    outcome = ItemOutcome(
        outcome="done" if status is ItemStatus.DONE else "skipped",
        digest=report.digest,
        bytes=report.bytes_copied,
        seconds=report.seconds,
        compress_bytes_before=report.compress_bytes_before,
        compress_bytes_after=report.compress_bytes_after,
        compress_seconds=report.compress_seconds,
        compress_fallback=report.compress_fallback,
        **base,
    )
    return outcome, closed
