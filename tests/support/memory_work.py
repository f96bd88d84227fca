"""In-memory fakes of the work ports (queue, state store, notifier) for in-process engine
tests. The state store keeps the rules `DynamoStateStore` keeps with conditional writes: an
item finishes once, counters move with it, a job closes once when every counted item (and,
for a tree, every repository) finished, and FAILED items can be reopened."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from freightliner.domain.work import TERMINAL, ItemStatus, WorkItem
from freightliner.ports.work import ItemRecord, JobRecord

_IMAGE_COUNTER = {
    ItemStatus.DONE: "done",
    ItemStatus.FAILED: "failed",
    ItemStatus.SKIPPED: "skipped",
    ItemStatus.BLOCKED: "blocked",
}


class MemoryQueue:
    """A FIFO of WorkItems; `drain` hands them to a worker until none are left."""

    def __init__(self) -> None:
        self.items: list[WorkItem] = []
        self.sent = 0

    def send(self, items: Sequence[WorkItem]) -> None:
        self.items += items
        self.sent += len(items)

    def take(self) -> WorkItem | None:
        return self.items.pop(0) if self.items else None


class MemoryNotifier:
    def __init__(self) -> None:
        self.finished: list[JobRecord] = []

    def job_finished(self, job: JobRecord) -> None:
        self.finished.append(job)


def _finish_counters(
    item: WorkItem, status: ItemStatus, images_skipped: int, continued: bool
) -> dict[str, int]:
    if item.action != "repository":
        return {_IMAGE_COUNTER[status]: 1}
    counters = {"total": images_skipped, "skipped": images_skipped}
    if status is ItemStatus.FAILED:
        counters["repositories_failed"] = 1
    elif not continued:
        skipped = status is ItemStatus.SKIPPED
        counters["repositories_skipped" if skipped else "repositories_done"] = 1
    return counters


class MemoryStateStore:
    """The `StateStore` port in memory."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.jobs: dict[str, JobRecord] = {}
        self.items: dict[tuple[str, str], ItemRecord] = {}

    def _record(self, item: WorkItem, status: ItemStatus = ItemStatus.PENDING) -> ItemRecord:
        return ItemRecord(
            job_id=item.job_id,
            item_id=item.item_id,
            status=status,
            source=item.source,
            destination=item.destination,
            source_digest=item.source_digest,
            work=item.model_dump_json(exclude_defaults=True),
        )

    def _count(self, job_id: str, counters: dict[str, int]) -> None:
        job = self.jobs[job_id]
        self.jobs[job_id] = job.model_copy(
            update={name: getattr(job, name) + amount for name, amount in counters.items()}
        )

    def create_job(self, job: JobRecord, items: Sequence[WorkItem]) -> bool:
        with self._lock:
            if job.job_id in self.jobs:
                return False
            self.jobs[job.job_id] = job.model_copy(update={"total": len(items)})
            for item in items:
                self.items[(item.job_id, item.item_id)] = self._record(item)
            return True

    def mark_enqueued(self, job_id: str) -> JobRecord | None:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or job.status not in ("ENUMERATING", "RUNNING"):
                return None
            self.jobs[job_id] = job.model_copy(update={"status": "RUNNING", "enqueued": True})
            return self._maybe_complete(job_id)

    def add_items(self, job_id: str, items: Sequence[WorkItem]) -> list[WorkItem]:
        with self._lock:
            if job_id not in self.jobs:
                raise KeyError(f"no job {job_id}")
            fresh = [i for i in items if (i.job_id, i.item_id) not in self.items]
            for item in fresh:
                self.items[(item.job_id, item.item_id)] = self._record(item)
            self._count(
                job_id,
                {
                    "total": sum(1 for i in fresh if i.action != "repository"),
                    "repositories": sum(
                        1 for i in fresh if i.action == "repository" and i.page is None
                    ),
                },
            )
            return fresh

    def claim(self, item: WorkItem) -> ItemRecord | None:
        with self._lock:
            key = (item.job_id, item.item_id)
            record = self.items.get(key) or self._record(item)
            if record.status in TERMINAL:
                return None
            record = record.model_copy(
                update={
                    "status": ItemStatus.RUNNING,
                    "attempts": record.attempts + 1,
                    "started_at": time.time(),
                }
            )
            self.items[key] = record
            return record

    def release(self, item: WorkItem, error: str, error_kind: str) -> None:
        with self._lock:
            key = (item.job_id, item.item_id)
            record = self.items.get(key)
            if record is not None and record.status is ItemStatus.RUNNING:
                self.items[key] = record.model_copy(
                    update={
                        "status": ItemStatus.PENDING,
                        "last_error": error,
                        "error_kind": error_kind,
                    }
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
            key = (item.job_id, item.item_id)
            record = self.items.get(key)
            if record is None or record.status is not ItemStatus.RUNNING:
                return None  # finished already: count nothing twice
            self.items[key] = record.model_copy(
                update={
                    "status": status,
                    "finished_at": time.time(),
                    "last_error": error,
                    "error_kind": error_kind,
                    "bytes": bytes_copied,
                    "digest": digest,
                }
            )
            if item.job_id not in self.jobs:
                return None
            counters = _finish_counters(item, status, images_skipped, continued)
            counters["bytes"] = bytes_copied
            self._count(item.job_id, counters)
            return self._maybe_complete(item.job_id)

    def _maybe_complete(self, job_id: str) -> JobRecord | None:
        job = self.jobs[job_id]
        if job.status != "RUNNING" or not job.complete:
            return None
        failed = job.failed or job.blocked or job.repositories_failed
        closed = job.model_copy(
            update={
                "status": "COMPLETED_WITH_ERRORS" if failed else "COMPLETE",
                "finished_at": time.time(),
            }
        )
        self.jobs[job_id] = closed
        return closed

    def reopen(self, job_id: str, include_failed: bool) -> Iterator[WorkItem]:
        unfinished = {ItemStatus.PENDING, ItemStatus.RUNNING}
        if include_failed:
            unfinished.add(ItemStatus.FAILED)
        with self._lock:
            records = [r for (j, _), r in self.items.items() if j == job_id]
        for record in records:
            if record.status not in unfinished or record.work is None:
                continue
            item = WorkItem.model_validate_json(record.work)
            if record.status is ItemStatus.FAILED:
                with self._lock:
                    self.items[(job_id, record.item_id)] = record.model_copy(
                        update={"status": ItemStatus.PENDING}
                    )
                    back = _finish_counters(item, ItemStatus.FAILED, 0, False)
                    self._count(job_id, {name: -n for name, n in back.items()})
                    job = self.jobs[job_id]
                    if job.status == "COMPLETED_WITH_ERRORS":
                        self.jobs[job_id] = job.model_copy(
                            update={"status": "RUNNING", "finished_at": None}
                        )
            yield item

    def get_job(self, job_id: str) -> JobRecord | None:
        with self._lock:
            return self.jobs.get(job_id)

    def list_jobs(self, limit: int = 50) -> list[JobRecord]:
        with self._lock:
            return sorted(self.jobs.values(), key=lambda j: j.created_at, reverse=True)[:limit]

    def list_items(self, job_id: str) -> list[ItemRecord]:
        with self._lock:
            return [r for (j, _), r in self.items.items() if j == job_id]

    def failures(self, job_id: str, limit: int = 20) -> list[ItemRecord]:
        failed = [r for r in self.list_items(job_id) if r.status is ItemStatus.FAILED]
        return sorted(failed, key=lambda r: r.finished_at or 0, reverse=True)[:limit]
