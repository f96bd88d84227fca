"""Running one WorkItem: claim it, copy (or delete), record the outcome.

With `resending` (the pipeline's worker), an item whose registry's circuit breaker is open
is not tried: it goes back to the queue delayed as a new message ("deferred"), and a
retryable failure re-sends it the same way with its attempt count ("retried"; rules in
`engine.jobs.resend`), so receive counts never walk it into the dead-letter queue. Without
it, and for configuration failures always, the item is released and the error re-raised, so
the queue delivers the same message again later.
Permanent failures are recorded FAILED with their reason and not raised, so the message is
removed instead of bouncing to the dead-letter queue. A duplicate delivery of a finished item
does no work. An item its job does not imply (see work_authorization) is recorded as rejected
and never claimed, counted or run. A copy that stops before the invocation's deadline (see
`engine.copying.resumable`) is handed off to a new message ("handed_off").

Every outcome is one log line (`item_log`: a permanent failure one ERROR line with its error
kind and item, a re-send one WARNING with `retry_in`) and every copy, delete or untag that ran
one audit event (`engine.audit`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from freightliner.domain.digest import Digest
from freightliner.domain.errors import FreightlinerError, InvalidInput, Outcome, Timeout
from freightliner.domain.jobs import JobRecord, JobSummary
from freightliner.domain.metadata import DEFAULT_TTL_SECONDS
from freightliner.domain.reference import Reference
from freightliner.domain.rules import RulesDocument
from freightliner.domain.uploads import UploadOwner, UploadPaused
from freightliner.domain.work import ItemStatus, WorkItem
from freightliner.engine.audit import audit_item
from freightliner.engine.copying.copy import Copier
from freightliner.engine.copying.models import CopyOptions, CopyReport
from freightliner.engine.copying.resumable import ResumePolicy
from freightliner.engine.jobs.authorization import rejection_reason
from freightliner.engine.jobs.circuit import Admission
from freightliner.engine.jobs.end import announce
from freightliner.engine.jobs.item_log import log_failed, log_finished, log_retry
from freightliner.engine.jobs.resend import NextAttempt, Resending, delay_seconds, next_attempt
from freightliner.engine.tree.fanout import expand_repository
from freightliner.ports.metadata import MetadataCache
from freightliner.ports.registry import ClientSource
from freightliner.ports.rejections import RejectionLog
from freightliner.ports.work import JobNotifier, StateStore, WorkQueue

log = logging.getLogger(__name__)


class ItemOutcome(BaseModel):
    item_id: str
    job_id: str
    outcome: Literal["done", "skipped", "failed", "rejected", "deferred", "retried", "handed_off"]
    reason: str = Field(default="", description="why skipped: up-to-date, absent, duplicate")
    source: str
    destination: str
    digest: str | None = None
    bytes: int = 0
    seconds: float = 0.0
    lag_seconds: float | None = Field(default=None, description="push to copied, when known")
    compress_bytes_before: int = 0
    compress_bytes_after: int = 0
    compress_seconds: float = 0.0
    compress_fallback: bool = False
    error: dict[str, object] | None = None
    job_closed: JobSummary | None = Field(default=None, description="this item ended its job")
    attempt: int = Field(default=0, description="counted retryable failures so far")
    delay: int = Field(default=0, description="deferred or retried: seconds until it runs again")
    waiting_on: str | None = Field(default=None, description="the host whose breaker is open")
    breaker_opened: str | None = Field(default=None, description="this item's failure opened it")


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
    resending: Resending | None = None,
    resume: ResumePolicy | None = None,
    metadata: MetadataCache | None = None,
    delivery: int = 1,
    metadata_ttl: float = DEFAULT_TTL_SECONDS,
) -> ItemOutcome:
    """Run one item its job implies; when it was the job's last, announce the job's end.
    `rules` loads the current replication rules (event jobs are checked against them);
    `resending` re-sends what cannot run now instead of raising (see the module doc);
    `resume`: large uploads record their sessions with the item, and a copy nearing the
    invocation's deadline stops between chunks and is handed off to a new message;
    `metadata` remembers blob locations between invocations, so copies mount, and the
    destination tags verified within `metadata_ttl` s, so a no-op resync asks no destination
    about them; `delivery` (the message's receive count) and the item's re-sends make the
    attempt its lines name."""
    hosts = _hosts(item)
    attempt = item.attempt + delivery
    try:
        job = state.get_job(item.job_id)
        reason = rejection_reason(item, job, rules)
        if reason is not None:
            rejections.record(item, reason)
            error = InvalidInput(f"work item rejected: {reason}")
            log_failed(item, error, attempt, "rejected")
            return ItemOutcome(outcome="rejected", error=error.to_dict(), **_base(item))
        admission = Admission()
        if resending is not None and resending.circuit is not None:
            admission = resending.circuit.admit(hosts)
            if admission.wait:
                return _defer(item, admission, resending)
        outcome, closed = _run(
            item,
            clients,
            state,
            jobs,
            queue,
            hosts,
            resending,
            resume,
            metadata=metadata,
            metadata_ttl=metadata_ttl,
            attempt=attempt,
        )
    except FreightlinerError as exc:  # before the claim, or recording the outcome
        if resending is None or exc.outcome is not Outcome.RETRY:
            raise
        return _send_again(item, exc, next_attempt(item, exc, resending, hosts), resending)
    if resending is not None and resending.circuit is not None:
        resending.circuit.answered(admission, _answered(outcome, hosts))
    _log_and_audit(item, outcome, attempt, job.kind if job else "")
    if closed is not None:
        outcome.job_closed = announce(closed, notifier)
    return outcome


def _log_and_audit(item: WorkItem, outcome: ItemOutcome, attempt: int, job_kind: str) -> None:
    """The line and the audit event of an item that ended here; a failure's line was written
    where it failed, and a duplicate delivery was logged and audited when the item ended."""
    if outcome.outcome == "failed":
        kind = str((outcome.error or {}).get("error", "error"))
        audit_item(item, "failed", job_kind, error_kind=kind)
    elif outcome.outcome in ("done", "skipped") and outcome.reason != "duplicate":
        log_finished(
            item, outcome.outcome, attempt, bytes_copied=outcome.bytes, seconds=outcome.seconds
        )
        detail = {"reason": outcome.reason} if outcome.reason else {}
        audit_item(item, outcome.outcome, job_kind, **detail)


def _hosts(item: WorkItem) -> tuple[str, ...]:
    """The registries an item reads or writes: a delete or untag only its destination's."""
    try:
        destination = Reference.parse(item.destination).registry
        if item.action in ("delete", "untag"):
            return (destination,)
        return tuple(dict.fromkeys((Reference.parse(item.source).registry, destination)))
    except InvalidInput:
        return ()  # refused by the authorization check, which names the reason


def _answered(outcome: ItemOutcome, hosts: tuple[str, ...]) -> tuple[str, ...]:
    """The hosts the item's outcome proves up: all of them after a copy or delete, the one
    that refused it after a permanent failure, none after a duplicate delivery."""
    if outcome.outcome in ("done", "skipped") and outcome.reason != "duplicate":
        return hosts
    if outcome.outcome == "failed" and outcome.error is not None:
        refused = str(outcome.error.get("registry", ""))
        return (refused,) if refused in hosts else ()
    return ()


def _base(item: WorkItem) -> dict[str, str]:
    return {
        "item_id": item.item_id,
        "job_id": item.job_id,
        "source": item.source,
        "destination": item.destination,
    }


def _defer(item: WorkItem, admission: Admission, resending: Resending) -> ItemOutcome:
    """Its registry's breaker is open: back to the queue until the cool-down ends,
    unclaimed and uncounted."""
    delay = delay_seconds(admission.wait)
    resending.queue.requeue(item, delay_seconds=delay)
    return ItemOutcome(
        outcome="deferred",
        attempt=item.attempt,
        delay=delay,
        waiting_on=admission.waiting_on,
        **_base(item),
    )


def _send_again(
    item: WorkItem, exc: FreightlinerError, attempt: NextAttempt, resending: Resending
) -> ItemOutcome:
    """The item again, delayed, as a new message: its own is then acknowledged."""
    resending.queue.requeue(attempt.item, delay_seconds=attempt.delay)
    log_retry(item, exc, attempt.item.attempt, attempt.delay)
    return ItemOutcome(
        outcome="retried",
        attempt=attempt.item.attempt,
        delay=attempt.delay,
        waiting_on=exc.where.registry if attempt.failure.outage else None,
        breaker_opened=attempt.failure.opened,
        error=exc.to_dict(),
        **_base(item),
    )


def _run(  # noqa: PLR0917 - the worker's parts, passed on from process_item
    item: WorkItem,
    clients: ClientSource,
    state: StateStore,
    jobs: int,
    queue: WorkQueue | None,
    hosts: tuple[str, ...],
    resending: Resending | None,
    resume: ResumePolicy | None,
    *,
    metadata: MetadataCache | None = None,
    metadata_ttl: float = DEFAULT_TTL_SECONDS,
    attempt: int = 1,
) -> tuple[ItemOutcome, JobRecord | None]:
    base = _base(item)
    if state.claim(item) is None:
        # already finished: logged and audited when it did
        return ItemOutcome(outcome="skipped", reason="duplicate", **base), None
    try:
        if item.action == "repository":
            if queue is None:
                raise InvalidInput("a repository item needs the work queue to expand into")
            closed = expand_repository(
                item,
                clients,
                queue=queue,
                state=state,
                metadata=metadata,
                metadata_ttl=metadata_ttl,
            )
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
            compress=item.compress,
            metadata_ttl=metadata_ttl,
        )
        owner = UploadOwner(item.job_id, item.item_id)
        resumable = resume.for_item(owner) if resume is not None else None
        with Copier(clients, options, resumable=resumable, metadata=metadata) as copier:
            report: CopyReport = copier.copy(
                Reference.parse(item.source), Reference.parse(item.destination)
            )
    except UploadPaused as paused:
        _hand_off(item, state, queue, paused)
        return ItemOutcome(outcome="handed_off", **base), None
    except FreightlinerError as exc:
        if exc.outcome is Outcome.RETRY and resending is not None:
            return _claimed_retry(item, exc, state, resending, hosts)
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
        lag_seconds=item.lag(time.time()) if status is ItemStatus.DONE else None,
        compress_bytes_before=report.compress_bytes_before,
        compress_bytes_after=report.compress_bytes_after,
        compress_seconds=report.compress_seconds,
        compress_fallback=report.compress_fallback,
        **base,
    )
    return outcome, closed


def _claimed_retry(
    item: WorkItem,
    exc: FreightlinerError,
    state: StateStore,
    resending: Resending,
    hosts: tuple[str, ...],
) -> tuple[ItemOutcome, JobRecord | None]:
    """A retryable failure of a claimed item: FAILED once its attempts are spent, otherwise
    released and sent again."""
    attempt = next_attempt(item, exc, resending, hosts)
    if attempt.exhausted(resending):
        reason = f"gave up after {attempt.item.attempt} attempts: {exc}"
        closed = state.finish(item, ItemStatus.FAILED, error=reason, error_kind=exc.kind)
        log_failed(item, exc, attempt.item.attempt, "failed")
        failed = ItemOutcome(
            outcome="failed", attempt=attempt.item.attempt, error=exc.to_dict(), **_base(item)
        )
        return failed, closed
    try:
        state.release(item, str(exc), exc.kind)
    except FreightlinerError as lost:  # the claim stands; a later delivery claims it again
        log.warning("item %s: could not release it (%s)", item.item_id, lost)
    return _send_again(item, exc, attempt, resending), None


def _hand_off(
    item: WorkItem, state: StateStore, queue: WorkQueue | None, paused: UploadPaused
) -> None:
    """The copy stopped before the deadline with its sessions recorded: the item is PENDING
    again, then goes out as a new message (so this one is acknowledged). Released first, so
    the new message's worker never finds it RUNNING; a failed send raises, and this
    message comes back instead."""
    note = f"handed off to a new invocation before the deadline ({paused})"
    if queue is None:  # nothing to hand off to: the message's own redelivery continues it
        error = Timeout(note)
        state.release(item, str(error), error.kind)
        raise error
    state.release(item, note, "handoff")
    queue.requeue(item, delay_seconds=0)
    log.info("item %s %s", item.item_id, note)
