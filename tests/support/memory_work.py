"""In-memory fakes of the work ports (queue, state store, notifier, scan gate, rejection log)
for in-process engine tests. The state store applies the job rules of `freightliner.domain.jobs` as
`DynamoStateStore` does with conditional writes, so an engine test sees the behaviour a
deployment sees."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from freightliner.domain.jobs import (
    JobRecord,
    JobStatus,
    finish_counters,
    new_item_counters,
    retry_counters,
)
from freightliner.domain.work import GateOutcome, GateRequest, ItemStatus, WorkItem
from freightliner.ports.work import GateCovered, ItemRecord, Recorded


class MemoryQueue:
    """A FIFO of WorkItems; `take` hands the oldest to a worker. A re-sent item joins the
    end at once (its delay is kept in `requeued`: in-process tests do not wait)."""

    def __init__(self) -> None:
        self.items: list[WorkItem] = []
        self.sent = 0
        self.requeued: list[tuple[WorkItem, int]] = []

    def send(self, items: Sequence[WorkItem]) -> None:
        self.items += items
        self.sent += len(items)

    def requeue(self, item: WorkItem, *, delay_seconds: int) -> None:
        self.items.append(item)
        self.requeued.append((item, delay_seconds))

    def take(self) -> WorkItem | None:
        return self.items.pop(0) if self.items else None


class MemoryNotifier:
    def __init__(self) -> None:
        self.finished: list[JobRecord] = []

    def job_finished(self, job: JobRecord) -> None:
        self.finished.append(job)


class MemoryRejectionLog:
    """The `RejectionLog` port in memory: every refused item with its reason, in order."""

    def __init__(self) -> None:
        self.rejected: list[tuple[WorkItem, str]] = []

    def record(self, item: WorkItem, reason: str) -> None:
        self.rejected.append((item, reason))


class MemoryScanGate:
    """The `ScanGate` port in memory: one execution per (source digest, destination), as
    Step Functions names them; starting a name another job holds reports the item covered.
    The state machine's own work (checks, waits, recording the outcome) is the test's to
    drive through `freightliner.engine.gate.scan_gate`."""

    def __init__(self) -> None:
        self.executions: dict[str, GateRequest] = {}
        self.waiting: set[str] = set()  # task tokens of parked waits

    def start(self, requests: Sequence[GateRequest]) -> list[GateCovered]:
        covered: list[GateCovered] = []
        for request in requests:
            name = request.execution_name
            holder = self.executions.setdefault(name, request).item.job_id
            if holder != request.item.job_id:
                covered.append(GateCovered(item=request.item, execution=name, job_id=holder))
        return covered

    def wake(self, tokens: Sequence[str]) -> int:
        woken = self.waiting.intersection(tokens)
        self.waiting -= woken
        return len(woken)


class MemoryStateStore:
    """The `StateStore` port in memory, keeping `DynamoStateStore`'s guarantees (each write
    below is what one conditional write or transaction does there) and applying the same
    domain rules: an item ends once and its counters move with it, a job closes once as
    `JobRecord.closing_status` says, FAILED items can be reopened, and items the scan gate
    holds are never sent again by a resume."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self.jobs: dict[str, JobRecord] = {}
        self.items: dict[tuple[str, str], ItemRecord] = {}

    def _record(self, item: WorkItem, gated: bool = False) -> ItemRecord:
        return ItemRecord(
            job_id=item.job_id,
            item_id=item.item_id,
            status=ItemStatus.PENDING,
            source=item.source,
            destination=item.destination,
            source_digest=item.source_digest,
            work=item.model_dump_json(exclude_defaults=True),
            gated=gated,
        )

    def _update(self, key: tuple[str, str], **changes: Any) -> None:
        self.items[key] = self.items[key].model_copy(update=changes)

    def _count(self, job_id: str, counters: Mapping[str, int]) -> None:
        job = self.jobs[job_id]
        self.jobs[job_id] = job.model_copy(
            update={name: getattr(job, name) + amount for name, amount in counters.items()}
        )

    def _move_job(
        self, job_id: str, to: JobStatus, when: tuple[JobStatus, ...], **changes: Any
    ) -> JobRecord | None:
        """Job status `when` -> `to` with `changes`; None if it was in none of them."""
        job = self.jobs.get(job_id)
        if job is None or job.status not in when:
            return None
        moved = job.model_copy(update={"status": to, **changes})
        self.jobs[job_id] = moved
        return moved

    def _close_if_complete(self, job_id: str) -> JobRecord | None:
        job = self.jobs.get(job_id)
        final = job.closing_status() if job is not None else None
        if final is None:
            return None
        return self._move_job(job_id, final, (JobStatus.RUNNING,), finished_at=self._clock())

    def _end_item(
        self, item: WorkItem, counters: Mapping[str, int], **changes: Any
    ) -> JobRecord | None:
        """The item's terminal transition and its job's counters together; then the job's
        close if this was its last item (an item without a job is recorded all the same)."""
        self._update((item.job_id, item.item_id), finished_at=self._clock(), **changes)
        if item.job_id not in self.jobs:
            return None
        self._count(item.job_id, counters)
        return self._close_if_complete(item.job_id)

    # -- writing ------------------------------------------------------------------------

    def create_job(
        self, job: JobRecord, items: Sequence[WorkItem], gated: Sequence[WorkItem] = ()
    ) -> bool:
        with self._lock:
            if job.job_id in self.jobs:
                return False
            self.jobs[job.job_id] = job.model_copy(update={"total": len(items) + len(gated)})
            for item in items:
                self.items[(item.job_id, item.item_id)] = self._record(item)
            for item in gated:
                self.items[(item.job_id, item.item_id)] = self._record(item, gated=True)
            return True

    def mark_enqueued(self, job_id: str) -> JobRecord | None:
        with self._lock:
            running = (JobStatus.ENUMERATING, JobStatus.RUNNING)
            if self._move_job(job_id, JobStatus.RUNNING, running, enqueued=True) is None:
                return None
            return self._close_if_complete(job_id)  # all may have finished while enumerating

    def add_items(self, job_id: str, items: Sequence[WorkItem]) -> list[WorkItem]:
        with self._lock:
            if job_id not in self.jobs:
                raise KeyError(f"no job {job_id}")
            fresh = [i for i in items if (i.job_id, i.item_id) not in self.items]
            for item in fresh:
                self.items[(item.job_id, item.item_id)] = self._record(item)
            self._count(job_id, new_item_counters(fresh))
            return fresh

    def claim(self, item: WorkItem) -> ItemRecord | None:
        with self._lock:
            key = (item.job_id, item.item_id)
            record = self.items.setdefault(key, self._record(item))
            if record.status not in (ItemStatus.PENDING, ItemStatus.RUNNING):
                return None
            self._update(
                key,
                status=ItemStatus.RUNNING,
                attempts=record.attempts + 1,
                started_at=self._clock(),
            )
            return self.items[key]

    def release(self, item: WorkItem, error: str, error_kind: str) -> None:
        with self._lock:
            key = (item.job_id, item.item_id)
            record = self.items.get(key)
            if record is not None and record.status is ItemStatus.RUNNING:
                self._update(
                    key, status=ItemStatus.PENDING, last_error=error, error_kind=error_kind
                )

    def finish(
        self,
        item: WorkItem,
        status: ItemStatus,
        *,
        error: str | None = None,
        error_kind: str | None = None,
        bytes_copied: int = 0,
        digest: str | None = None,
        images_skipped: int = 0,
        continued: bool = False,
    ) -> JobRecord | None:
        with self._lock:
            record = self.items.get((item.job_id, item.item_id))
            if record is None or record.status is not ItemStatus.RUNNING:
                return None  # finished already: count nothing twice
            counters = finish_counters(item, status, images_skipped, continued)
            counters["bytes"] = bytes_copied
            return self._end_item(
                item,
                counters,
                status=status,
                last_error=error,
                error_kind=error_kind,
                bytes=bytes_copied,
                digest=digest,
            )

    def record_gate(self, item: WorkItem, outcome: GateOutcome, execution: str) -> Recorded:
        with self._lock:
            key = (item.job_id, item.item_id)
            record = self.items.get(key)
            if record is None or record.status is not ItemStatus.PENDING:
                return Recorded(recorded=False)  # recorded by an earlier try already
            seen = {"scan_findings": dict(outcome.findings), "gate_execution": execution}
            if outcome.status is ItemStatus.PENDING:  # let through: why stays on the item
                self._update(key, scan_verdict=outcome.reason, **seen)
                return Recorded(recorded=True)
            closed = self._end_item(
                item,
                finish_counters(item, outcome.status),
                status=outcome.status,
                last_error=outcome.reason,
                error_kind=outcome.error_kind,
                **seen,
            )
            return Recorded(recorded=True, closed=closed)

    def reopen(self, job_id: str, include_failed: bool) -> Iterator[WorkItem]:
        unfinished = {ItemStatus.PENDING, ItemStatus.RUNNING}
        if include_failed:
            unfinished.add(ItemStatus.FAILED)
        for record in self.list_items(job_id):
            if record.status not in unfinished or record.work is None:
                continue
            if record.held_by_gate:
                continue  # the gate's own: only the gate sends it
            item = WorkItem.model_validate_json(record.work)
            if record.status is ItemStatus.FAILED and not self._unfail(item):
                continue
            yield item

    def _unfail(self, item: WorkItem) -> bool:
        """FAILED -> PENDING with the job's failure counter taken back; a closed job runs
        again."""
        with self._lock:
            key = (item.job_id, item.item_id)
            if self.items[key].status is not ItemStatus.FAILED:
                return False  # retried by someone else already
            self._update(key, status=ItemStatus.PENDING)
            self._count(item.job_id, retry_counters(item))
            ended = (JobStatus.COMPLETED_WITH_ERRORS,)
            self._move_job(item.job_id, JobStatus.RUNNING, ended, finished_at=None)
            return True

    # -- reading ------------------------------------------------------------------------

    def get_job(self, job_id: str) -> JobRecord | None:
        with self._lock:
            return self.jobs.get(job_id)

    def list_jobs(self, limit: int = 50, status: JobStatus | None = None) -> list[JobRecord]:
        with self._lock:
            listed = [j for j in self.jobs.values() if status is None or j.status is status]
        return sorted(listed, key=lambda j: j.created_at, reverse=True)[:limit]

    def list_items(self, job_id: str) -> list[ItemRecord]:
        with self._lock:
            return [r for (j, _), r in self.items.items() if j == job_id]

    def failures(self, job_id: str, limit: int = 20) -> list[ItemRecord]:
        failed = [r for r in self.list_items(job_id) if r.status is ItemStatus.FAILED]
        return sorted(failed, key=lambda r: r.finished_at or 0, reverse=True)[:limit]
