"""`freightliner trace`: what happened to an image, a job or an event, as one timeline.

The state table says which jobs and items the target names (and, for each item, its last
attempt and its end); the log searches add every line those carry (each copy attempt with its
error, the gate's verdict, the intake's outcome). Where both know the same step (an item's end,
an event's intake) the state table's record is kept. Rows expire after 30 days; the logs may
reach further back, so a target the table no longer knows is still searched in the logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from freightliner.domain.errors import FreightlinerError, InvalidInput
from freightliner.domain.jobs import JobRecord
from freightliner.domain.reference import Reference
from freightliner.domain.trace import (
    LogCriteria,
    LogRecord,
    LogSearchResult,
    Stage,
    Timeline,
    TimelineEvent,
    TraceKind,
    TraceTarget,
    short_digest,
)
from freightliner.domain.work import ItemStatus
from freightliner.ports.trace import LogSearch, TraceIndex
from freightliner.ports.work import ItemRecord

SLACK = 300.0  # seconds searched before a job was created and after it ended
MAX_JOBS = 50  # jobs one trace reads the items of
MAX_IDS = 50  # correlation ids and job ids one log query names
_OUTCOMES: dict[str, Stage] = {
    "done": "done",
    "skipped": "skipped",
    "failed": "failed",
    "rejected": "rejected",
}
_INTAKE = {"enqueued", "duplicate", "no-match"}
_LONG_DIGEST = re.compile(r"\b(sha256|sha512):([0-9a-f]{12})[0-9a-f]{20,}")


def shorter(text: str) -> str:
    """Digests in a summary cut to 12 characters, as in log lines."""
    return _LONG_DIGEST.sub(r"\1:\2…", text)


_ENDED: dict[ItemStatus, Stage] = {
    ItemStatus.DONE: "done",
    ItemStatus.SKIPPED: "skipped",
    ItemStatus.FAILED: "failed",
    ItemStatus.BLOCKED: "blocked",
}


class Unsearched:
    """A LogSearch this deployment cannot run (nothing says where its logs are): the
    timeline says why its lines are missing."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self._reason = reason

    def search(self, criteria: LogCriteria, start: float, end: float) -> LogSearchResult:
        return LogSearchResult(source=self.source, complete=False, notes=[self._reason])


class _Found:
    """What the state table knows about the target."""

    def __init__(self, kind: TraceKind) -> None:
        self.kind = kind
        self.jobs: dict[str, JobRecord] = {}
        self.items: list[ItemRecord] = []
        self.notes: list[str] = []


def trace(
    target: TraceTarget,
    index: TraceIndex,
    searches: Sequence[LogSearch],
    *,
    now: float,
    since: float,
) -> Timeline:
    """The target's timeline; `since` (seconds) bounds the log search when the state table
    knows nothing to bound it by."""
    found = _resolve(target, index)
    criteria = _criteria(target, found)
    start, end = _window(found, now, since)
    timeline = Timeline(
        target=target.text,
        kind=found.kind,
        jobs=sorted(found.jobs),
        start=start,
        end=end,
        notes=list(found.notes),
    )
    state_events = list(_state_events(found))
    log_events: list[TimelineEvent] = []
    for search in searches:
        if timeline.interrupted:
            timeline.notes.append(f"{search.source}: not searched (interrupted)")
            timeline.complete = False
            continue
        try:
            result = search.search(criteria, start, end)
        except FreightlinerError as exc:  # the table's part (and other logs) still show
            timeline.notes.append(f"{search.source}: not searched: {exc.kind}: {exc}")
            timeline.complete = False
            continue
        log_events += [_log_event(record, search.source) for record in result.records]
        timeline.notes += [f"{search.source}: {note}" for note in result.notes]
        timeline.complete = timeline.complete and result.complete
        timeline.interrupted = result.interrupted
    timeline.events = _merged(state_events, log_events)
    return timeline


def _resolve(target: TraceTarget, index: TraceIndex) -> _Found:
    kind = target.kind
    if kind is TraceKind.IMAGE:
        if not target.digest_prefix:
            raise InvalidInput(f"trace: {target.text} names no digest (resolve its tag first)")
        found = _Found(kind)
        items = index.items_by_digest(target.digest_prefix)
        found.items = [i for i in items if target.image in (_name(i.source), _name(i.destination))]
        if items and not found.items:
            found.notes.append(
                f"{len(items)} item(s) copy this digest, none from or to {target.image}"
            )
    elif kind is TraceKind.DIGEST:
        found = _Found(kind)
        found.items = index.items_by_digest(target.digest_prefix)
    elif kind is TraceKind.JOB:
        found = _Found(kind)
        job = index.get_job(target.text)
        if job is not None:
            found.jobs[job.job_id] = job
    elif kind is TraceKind.CORRELATION:
        found = _Found(kind)
        found.jobs = {j.job_id: j for j in index.jobs_by_correlation(target.text)}
    else:
        return _resolve(_guess(target, index), index)
    if found.items and not found.jobs:
        for job_id in sorted({i.job_id for i in found.items})[:MAX_JOBS]:
            job = index.get_job(job_id)
            if job is not None:
                found.jobs[job_id] = job
    elif found.jobs and not found.items:
        for job_id in sorted(found.jobs)[:MAX_JOBS]:
            items = index.list_items(job_id)
            found.items += items
            if len(items) < found.jobs[job_id].total:
                found.notes.append(
                    f"job {job_id}: {len(items)} of its {found.jobs[job_id].total} images shown"
                )
    if not found.jobs and not found.items:
        found.notes.append("the state table knows nothing of it (rows expire after 30 days)")
    if len({i.job_id for i in found.items}) > MAX_JOBS:
        found.notes.append(f"only the first {MAX_JOBS} jobs are shown")
    return found


def _guess(target: TraceTarget, index: TraceIndex) -> TraceTarget:
    """A bare word: a job id, else a correlation id the table knows, else a digest prefix
    (when it looks like one), else a correlation id for the logs alone."""
    if index.get_job(target.text) is not None:
        kind = TraceKind.JOB
    elif index.jobs_by_correlation(target.text):
        kind = TraceKind.CORRELATION
    elif target.digest_prefix and index.items_by_digest(target.digest_prefix):
        kind = TraceKind.DIGEST
    else:
        kind = TraceKind.CORRELATION
    return target.model_copy(update={"kind": kind})


def _name(reference: str) -> str:
    try:
        return Reference.parse(reference).name
    except InvalidInput:
        return ""


def _criteria(target: TraceTarget, found: _Found) -> LogCriteria:
    correlation = {j.correlation_id for j in found.jobs.values() if j.correlation_id}
    correlation |= {i.correlation_id for i in found.items if i.correlation_id}
    if found.kind is TraceKind.CORRELATION:
        correlation.add(target.text)
    jobs = set(found.jobs) | {i.job_id for i in found.items}
    if found.kind is TraceKind.JOB:
        jobs.add(target.text)
    digests = []
    if target.digest_prefix and found.kind in (TraceKind.DIGEST, TraceKind.IMAGE):
        digests.append(short_digest(target.digest_prefix))
    return LogCriteria(
        correlation_ids=sorted(correlation)[:MAX_IDS],
        job_ids=sorted(jobs)[:MAX_IDS],
        digests=digests,
    )


def _window(found: _Found, now: float, since: float) -> tuple[float, float]:
    starts = [j.created_at for j in found.jobs.values()]
    starts += [i.created_at for i in found.items if i.created_at is not None]
    if not starts:
        return now - since, now
    ends = [j.finished_at for j in found.jobs.values()]
    ends += [i.finished_at for i in found.items]
    if any(e is None for e in ends):
        return min(starts) - SLACK, now  # still running: up to now
    return min(starts) - SLACK, min(now, max(e for e in ends if e is not None) + SLACK)


def _state_events(found: _Found) -> Iterable[TimelineEvent]:
    planned: dict[str, list[ItemRecord]] = {}
    for item in found.items:
        planned.setdefault(item.job_id, []).append(item)
    for job in found.jobs.values():
        detail = job.detail
        if job.kind == "event":
            what = f"{detail.get('action', 'event')} {detail.get('source', '')}".strip()
            summary = f"event received: {shorter(what)} (event {detail.get('event_id', '?')})"
        else:
            summary = f"{job.kind} job started" + (
                f": sync {detail['sync']}" if "sync" in detail else ""
            )
        yield TimelineEvent(
            at=job.created_at, stage="received", source="state", summary=summary, job_id=job.job_id
        )
        items = planned.get(job.job_id, [])
        yield TimelineEvent(
            at=job.created_at,
            stage="planned",
            source="state",
            summary=f"planned {job.total} image(s)"
            + (": " + ", ".join(sorted(i.destination for i in items)[:5]) if items else ""),
            job_id=job.job_id,
        )
        if job.finished_at is not None:
            yield TimelineEvent(
                at=job.finished_at,
                stage="failed" if job.failed or job.blocked else "done",
                source="state",
                summary=f"job {job.status}: {job.done} done, {job.skipped} skipped, "
                f"{job.failed} failed, {job.blocked} blocked",
                job_id=job.job_id,
                seconds=round(job.finished_at - job.created_at, 3),
            )
    for item in found.items:
        yield from _item_events(item)


def _item_events(item: ItemRecord) -> Iterable[TimelineEvent]:
    base = {"source": "state", "job_id": item.job_id, "item_id": item.item_id}
    base["destination"] = item.destination
    if item.gated:
        if item.scan_verdict is not None:
            yield TimelineEvent(
                at=item.gate_at,
                stage="gate",
                summary=f"scan gate passed: {item.scan_verdict}",
                **base,
            )
        elif item.status in (ItemStatus.BLOCKED, ItemStatus.FAILED) and item.gate_execution:
            yield TimelineEvent(
                at=item.gate_at or item.finished_at,
                stage="gate",
                summary=f"scan gate {item.status.lower()}: {item.last_error or ''}",
                error_kind=item.error_kind or "",
                **base,
            )
            return
        elif item.status is ItemStatus.PENDING:
            yield TimelineEvent(at=None, stage="gate", summary="held by the scan gate", **base)
            return
    if item.started_at is not None:
        yield TimelineEvent(
            at=item.started_at,
            stage="attempt",
            summary=f"copy to {item.destination}: attempt {item.attempts} started",
            attempt=item.attempts,
            **base,
        )
    ended = _ENDED.get(item.status)
    if ended is not None and item.finished_at is not None:
        took = item.finished_at - item.started_at if item.started_at is not None else None
        if ended == "done":
            summary = f"copied to {item.destination}: {item.bytes} bytes"
        else:
            summary = f"{ended}: {item.destination}" + (
                f": {item.error_kind}: {item.last_error}" if item.last_error else ""
            )
        yield TimelineEvent(
            at=item.finished_at,
            stage=ended,
            summary=summary,
            error_kind=item.error_kind or "",
            error=item.last_error or "" if ended != "done" else "",
            attempt=item.attempts or None,
            seconds=round(took, 3) if took is not None else None,
            **base,
        )
    elif ended is None:
        waiting = f"{item.status.lower()} after {item.attempts} attempt(s)"
        if item.last_error:
            waiting += f"; last error {item.error_kind}: {item.last_error}"
        yield TimelineEvent(
            at=None,
            stage="retry" if item.last_error else "attempt",
            summary=waiting,
            error_kind=item.error_kind or "",
            error=item.last_error or "",
            **base,
        )


def classify(record: LogRecord) -> Stage:
    """The step a log line tells of, by its fields (see freightliner.domain.trace)."""
    message = record.text("message")
    level = record.level
    if level in ("ERROR", "CRITICAL") and record.text("error_kind"):
        return "failed"
    if level in ("WARNING", "WARN") and (record.text("retry_in") or record.text("error_kind")):
        return "retry"
    if message in _INTAKE:
        return "received"
    if message in _OUTCOMES and record.text("destination"):
        return _OUTCOMES[message]
    if message == "verdict" or message.startswith(("scan verdict", "scan gate")):
        return "gate"
    return "log"


def _log_event(record: LogRecord, source: str) -> TimelineEvent:
    stage = classify(record)
    message = record.text("message")
    error = record.text("error")
    summary = shorter(message[:300]) + (
        f": {shorter(error[:300])}" if error and error not in message else ""
    )
    attempt = record.fields.get("attempt")
    if stage in ("retry", "failed") and attempt is not None:
        summary = f"attempt {attempt}: {summary}"
    retry_in = record.text("retry_in")
    if retry_in:
        summary += f" (retry in {retry_in} s)"
    return TimelineEvent(
        at=record.at,
        stage=stage,
        source=source,
        summary=summary or "(no message)",
        job_id=record.text("job_id"),
        item_id=record.text("item_id"),
        destination=record.text("destination"),
        error_kind=record.text("error_kind"),
        error=error,
        attempt=int(attempt) if isinstance(attempt, int | str) and str(attempt).isdigit() else None,
        origin=record.origin or record.text("function_name"),
    )


def _merged(state: list[TimelineEvent], logs: list[TimelineEvent]) -> list[TimelineEvent]:
    """Both, in time order (steps without a time last); a log line telling of a step the
    state table recorded is left out."""
    known = {(e.stage, e.item_id or e.job_id) for e in state}
    kept = [
        e
        for e in logs
        if not (
            e.stage in ("received", "done", "skipped", "failed", "blocked")
            and ((e.stage, e.item_id) in known or ((e.stage, e.job_id) in known and not e.item_id))
        )
    ]
    events = state + kept
    return sorted(events, key=lambda e: (e.at is None, e.at or 0.0))
