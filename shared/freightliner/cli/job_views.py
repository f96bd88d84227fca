"""One view of a tree-sync job for `freightliner jobs`, whichever store holds it: the local
SQLite checkpoints or the pipeline's DynamoDB table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from freightliner.cli.progress import human_bytes
from freightliner.domain.breaker import BreakerRecord, BreakerState
from freightliner.domain.errors import InvalidInput
from freightliner.domain.jobs import JobRecord, JobSummary
from freightliner.domain.reference import Reference
from freightliner.domain.work import ItemStatus
from freightliner.ports.work import ItemRecord

if TYPE_CHECKING:
    from freightliner.adapters.local.sqlite_checkpoints import ItemFailure


class FailureView(BaseModel):
    destination: str
    error: str


class BreakerWait(BaseModel):
    """Unfinished items of a job whose registry's circuit breaker is open: outage mode."""

    host: str
    state: BreakerState
    items: int
    open_until: float = Field(description="when the next probe may run (epoch seconds)")


class JobView(JobSummary):
    """A job's summary as `jobs list` / `jobs status` show it: with the store that holds it,
    its most recent failures and the items waiting on an open circuit breaker."""

    store: str
    failures: list[FailureView] = Field(default_factory=list)
    waiting: list[BreakerWait] = Field(default_factory=list)


def breaker_waits(
    items: list[ItemRecord], breakers: list[BreakerRecord], now: float
) -> list[BreakerWait]:
    """How many of the job's unfinished items read or write a host whose breaker is open."""
    waits = []
    for breaker in breakers:
        count = sum(
            1
            for item in items
            if item.status in (ItemStatus.PENDING, ItemStatus.RUNNING)
            and breaker.host in (_host(item.source), _host(item.destination))
        )
        if count:
            state = breaker.state(now)
            waits.append(
                BreakerWait(
                    host=breaker.host, state=state, items=count, open_until=breaker.open_until
                )
            )
    return waits


def _host(reference: str) -> str:
    try:
        return Reference.parse(reference).registry
    except InvalidInput:
        return ""


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
    for wait in view.waiting:
        until = datetime.fromtimestamp(wait.open_until, UTC).strftime("%H:%M:%S UTC")
        lines.append(
            f"  WAITING {wait.items} items on the open circuit breaker of {wait.host} "
            f"({wait.state}, next probe from {until})"
        )
    return "\n".join(lines)


def render_row(view: JobView) -> str:
    when = datetime.fromtimestamp(view.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{view.job_id}  {view.name:<20} {view.status:<22} {when}  {view.outcomes()}"
