"""Jobs and their rules: what finishing an item adds to its job, when a job is complete, what
it becomes then, and how its end is said (the summary, its log line, its metrics).

Every writer of job state (the worker, the tree fan-out, the intake, the scan gate) goes
through one job store that applies these rules, so a job ends the same way whoever closes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from freightliner.domain.work import ItemStatus, WorkItem


class JobStatus(StrEnum):
    ENUMERATING = "ENUMERATING"  # a tree job still recording its repositories
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"


# The one vocabulary for an item's end, in the table (upper case), and in logs, metrics, job
# summaries and the CLI (the same word, lower case): done, skipped, failed, blocked.
IMAGE_COUNTER: dict[ItemStatus, str] = {
    ItemStatus.DONE: "done",
    ItemStatus.SKIPPED: "skipped",
    ItemStatus.FAILED: "failed",
    ItemStatus.BLOCKED: "blocked",
}


class JobRecord(BaseModel):
    """A job and its counters: images (`total` … `bytes`) and, for a tree sync, repositories."""

    job_id: str
    kind: str = "event"
    status: JobStatus = JobStatus.RUNNING
    created_at: float
    finished_at: float | None = None
    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    blocked: int = 0
    bytes: int = 0
    repositories: int = 0
    repositories_done: int = 0
    repositories_skipped: int = 0
    repositories_failed: int = 0
    enqueued: bool = False
    detail: dict[str, str] = Field(default_factory=dict)
    correlation_id: str = Field(default="", description="the event it came from (trace)")

    @property
    def images_finished(self) -> int:
        return self.done + self.skipped + self.failed + self.blocked

    @property
    def repositories_finished(self) -> int:
        return self.repositories_done + self.repositories_skipped + self.repositories_failed

    @property
    def complete(self) -> bool:
        """Every counted item finished (a tree job must also have finished enumerating)."""
        return (
            self.images_finished >= self.total and self.repositories_finished >= self.repositories
        )

    def closing_status(self) -> JobStatus | None:
        """What the job becomes now, or None while it stays open: only a RUNNING job (every
        item enqueued, every repository recorded) closes, once everything counted finished."""
        if self.status is not JobStatus.RUNNING or not self.complete:
            return None
        return ended(with_errors=bool(self.failed or self.blocked or self.repositories_failed))


def ended(*, with_errors: bool) -> JobStatus:
    """A finished job's status: any item failed or blocked makes it COMPLETED_WITH_ERRORS."""
    return JobStatus.COMPLETED_WITH_ERRORS if with_errors else JobStatus.COMPLETE


def finish_counters(
    item: WorkItem, status: ItemStatus, images_skipped: int = 0, continued: bool = False
) -> dict[str, int]:
    """What finishing `item` with the terminal `status` adds to its job. A repository item
    counts the images it found present (total and skipped); one whose repository `continued`
    in another page does not count the repository yet."""
    if item.action != "repository":
        return {IMAGE_COUNTER[status]: 1}
    counters = {"total": images_skipped, "skipped": images_skipped}
    if status is ItemStatus.FAILED:
        counters["repositories_failed"] = 1
    elif not continued:
        skipped = status is ItemStatus.SKIPPED  # none of the repository's images needed copying
        counters["repositories_skipped" if skipped else "repositories_done"] = 1
    return counters


def retry_counters(item: WorkItem) -> dict[str, int]:
    """What sending a FAILED item again takes back from its job."""
    return {name: -amount for name, amount in finish_counters(item, ItemStatus.FAILED).items()}


def new_item_counters(items: Iterable[WorkItem]) -> dict[str, int]:
    """What recording new work adds to its job: images to `total`, and repositories (a
    repository's continuation page is the same repository, not another)."""
    listed = list(items)
    return {
        "total": sum(1 for i in listed if i.action != "repository"),
        "repositories": sum(1 for i in listed if i.action == "repository" and i.page is None),
    }


class JobMetric(BaseModel):
    name: str
    unit: Literal["Count", "Seconds", "Bytes"]
    value: float
    dimensions: dict[str, str] = Field(default_factory=dict)


class JobSummary(BaseModel):
    """A job as people read it: at its end (log line, event, metrics) and in `jobs list` /
    `jobs status`, whichever store holds it."""

    job_id: str
    kind: str
    status: JobStatus
    name: str = Field(description="the tree sync's name, or the event's source image")
    created_at: float
    finished_at: float | None = None
    images: int | None = Field(description="None where the store only knows finished images")
    done: int = 0
    skipped: int = 0
    failed: int = 0
    blocked: int = 0
    bytes: int = 0
    repositories: int = 0
    repositories_done: int = 0
    repositories_skipped: int = 0
    repositories_failed: int = 0
    enumerated: bool = Field(default=True, description="every repository is recorded")

    @classmethod
    def of(cls, job: JobRecord) -> JobSummary:
        return cls(
            job_id=job.job_id,
            kind=job.kind,
            status=job.status,
            name=job.detail.get("sync") or job.detail.get("source") or job.kind,
            created_at=job.created_at,
            finished_at=job.finished_at,
            images=job.total,
            done=job.done,
            skipped=job.skipped,
            failed=job.failed,
            blocked=job.blocked,
            bytes=job.bytes,
            repositories=job.repositories,
            repositories_done=job.repositories_done,
            repositories_skipped=job.repositories_skipped,
            repositories_failed=job.repositories_failed,
            enumerated=job.status is not JobStatus.ENUMERATING,
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def seconds(self) -> float | None:
        """How long the job ran, once it ended."""
        if self.finished_at is None:
            return None
        return round(self.finished_at - self.created_at, 3)

    @property
    def images_finished(self) -> int:
        return self.done + self.skipped + self.failed + self.blocked

    @property
    def repositories_finished(self) -> int:
        return self.repositories_done + self.repositories_skipped + self.repositories_failed

    def outcomes(self) -> str:
        """`3 done, 0 skipped, 1 failed, 0 blocked`: the item vocabulary, everywhere."""
        return ", ".join(f"{getattr(self, word)} {word}" for word in IMAGE_COUNTER.values())

    def line(self) -> str:
        """The job's end in one log line."""
        repositories = (
            f"{self.repositories} repositories ({self.repositories_failed} failed), "
            if self.repositories
            else ""
        )
        return (
            f"job {self.job_id} {self.status}: {repositories}{self.images} images: "
            f"{self.outcomes()}, {self.bytes} bytes"
        )

    def metrics(self) -> list[JobMetric]:
        """The job's end as metrics: a count and its duration, by job kind and final status."""
        dimensions = {"kind": self.kind, "status": str(self.status)}
        found = [JobMetric(name="Jobs", unit="Count", value=1, dimensions=dimensions)]
        if self.seconds is not None:
            found.append(
                JobMetric(
                    name="JobSeconds", unit="Seconds", value=self.seconds, dimensions=dimensions
                )
            )
        return found
