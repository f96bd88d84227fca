"""One view of a tree-sync job for `freightliner jobs`, whichever store holds it: the local
SQLite checkpoints or the pipeline's DynamoDB table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from freightliner.cli.progress import human_bytes
from freightliner.ports.work import ItemRecord, JobRecord

if TYPE_CHECKING:
    from freightliner.adapters.local.sqlite_checkpoints import ItemFailure, JobSummary


class FailureView(BaseModel):
    destination: str
    error: str


class JobView(BaseModel):
    job_id: str
    name: str
    store: str
    status: str
    created_at: float
    repositories: int
    repositories_finished: int
    enumerated: bool
    images: int | None = Field(description="None where the store only knows finished images")
    copied: int
    skipped: int
    failed: int
    bytes: int
    failures: list[FailureView] = Field(default_factory=list)

    @property
    def images_finished(self) -> int:
        return self.copied + self.skipped + self.failed


def local_view(summary: JobSummary, failures: list[ItemFailure]) -> JobView:
    return JobView(
        job_id=summary.job_id,
        name=summary.sync_name,
        store="local",
        status=summary.status,
        created_at=summary.created_at,
        repositories=summary.repositories,
        repositories_finished=summary.repositories_done,
        enumerated=summary.enumerated,
        images=None,
        copied=summary.done,
        skipped=summary.skipped,
        failed=summary.failed,
        bytes=summary.bytes,
        failures=[FailureView(destination=f.destination, error=f.error) for f in failures],
    )


def table_view(job: JobRecord, failures: list[ItemRecord]) -> JobView:
    return JobView(
        job_id=job.job_id,
        name=job.detail.get("sync") or job.detail.get("source") or job.kind,
        store="aws",
        status=job.status,
        created_at=job.created_at,
        repositories=job.repositories,
        repositories_finished=job.repositories_finished,
        enumerated=job.status != "ENUMERATING",
        images=job.total,
        copied=job.done,
        skipped=job.skipped,
        failed=job.failed,
        bytes=job.bytes,
        failures=[
            FailureView(destination=f.destination, error=f.last_error or "") for f in failures
        ],
    )


def bar(done: int, total: int, width: int = 24) -> str:
    fraction = min(done / total, 1.0) if total else 1.0
    filled = round(fraction * width)
    return f"[{'#' * filled}{'-' * (width - filled)}] {fraction * 100:3.0f}%"


def render_status(view: JobView) -> str:
    more = "" if view.enumerated else " (still listing)"
    lines = [
        f"job {view.job_id} ({view.name}, {view.store}): {view.status}",
        f"  repositories {bar(view.repositories_finished, view.repositories)}  "
        f"{view.repositories_finished}/{view.repositories} finished{more}",
    ]
    counts = f"{view.copied} copied, {view.skipped} present, {view.failed} failed"
    if view.images is None:
        lines.append(f"  images       {view.images_finished} finished: {counts}")
    else:
        lines.append(
            f"  images       {bar(view.images_finished, view.images)}  "
            f"{view.images_finished}/{view.images} finished: {counts}"
        )
    lines.append(f"  bytes        {human_bytes(view.bytes)}")
    lines += [f"  FAILED {f.destination}: {f.error}" for f in view.failures]
    return "\n".join(lines)


def render_row(view: JobView) -> str:
    when = datetime.fromtimestamp(view.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"{view.job_id}  {view.name:<20} {view.status:<22} {when}  "
        f"{view.copied} copied, {view.skipped} present, {view.failed} failed"
    )
