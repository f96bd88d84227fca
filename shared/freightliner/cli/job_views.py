"""One view of a tree-sync job for `freightliner jobs`, whichever store holds it: the local
SQLite checkpoints or the pipeline's DynamoDB table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from freightliner.cli.progress import human_bytes
from freightliner.domain.jobs import JobRecord, JobSummary
from freightliner.ports.work import ItemRecord

if TYPE_CHECKING:
    from freightliner.adapters.local.sqlite_checkpoints import ItemFailure


class FailureView(BaseModel):
    destination: str
    error: str


class JobView(JobSummary):
    """A job's summary as `jobs list` / `jobs status` show it: with the store that holds it
    and its most recent failures."""

    store: str
    failures: list[FailureView] = Field(default_factory=list)


def local_view(summary: JobSummary, failures: list[ItemFailure]) -> JobView:
    return JobView(
        **summary.model_dump(exclude={"seconds"}),
        store="local",
        failures=[FailureView(destination=f.destination, error=f.error) for f in failures],
    )


def table_view(job: JobRecord, failures: list[ItemRecord]) -> JobView:
    return JobView(
        **JobSummary.of(job).model_dump(exclude={"seconds"}),
        store="aws",
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
    counts = view.outcomes()
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
    return f"{view.job_id}  {view.name:<20} {view.status:<22} {when}  {view.outcomes()}"
