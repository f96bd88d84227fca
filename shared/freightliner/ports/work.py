"""Ports for work in flight: the queue that carries WorkItems, the store that records them,
the notifier told when a job ends, and the scan gate that holds items back until a
vulnerability scan passes."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field, field_validator

from freightliner.domain.jobs import JobRecord, JobStatus
from freightliner.domain.work import GateOutcome, GateRequest, ItemStatus, WorkItem


class ItemRecord(BaseModel):
    job_id: str
    item_id: str
    status: ItemStatus
    source: str
    destination: str
    source_digest: str
    attempts: int = 0
    last_error: str | None = None
    error_kind: str | None = None
    bytes: int = 0
    digest: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    work: str | None = Field(default=None, description="the WorkItem as JSON, to send again")
    scan_findings: dict[str, int] = Field(
        default_factory=dict, description="findings per severity the scan gate counted"
    )
    scan_verdict: str | None = Field(default=None, description="why the scan gate let it pass")
    gate_execution: str | None = None
    gated: bool = Field(default=False, description="the scan gate decides whether it is copied")
    created_at: float | None = Field(default=None, description="when the item was planned")
    correlation_id: str = Field(default="", description="the event's id (a tree job's: its id)")
    gate_at: float | None = Field(default=None, description="when the scan gate decided")

    @property
    def held_by_gate(self) -> bool:
        """The gate has not let it through (yet): only the gate may send it to the queue."""
        return self.gated and self.scan_verdict is None

    @field_validator("scan_findings", mode="before")
    @classmethod
    def _findings(cls, value: Any) -> Any:
        """The state machine stores the counts as JSON text."""
        return json.loads(value) if isinstance(value, str) else value


class Recorded(BaseModel):
    """Whether a write to an item took (False: an earlier delivery or try made it already),
    and its job when this closed it."""

    recorded: bool
    closed: JobRecord | None = None


class WorkQueue(Protocol):
    def send(self, items: Sequence[WorkItem]) -> None:
        """Enqueue every item or raise; never a silent partial send."""
        ...

    def requeue(self, item: WorkItem, *, delay_seconds: int) -> None:
        """Send `item` again as a new message that stays invisible `delay_seconds` (0 to
        900, SQS's limit; longer is cut to it), or raise. The message it came in is then
        acknowledged by its worker, so no receive count grows while an item waits."""
        ...


class StateStore(Protocol):
    def create_job(
        self, job: JobRecord, items: Sequence[WorkItem], gated: Sequence[WorkItem] = ()
    ) -> bool:
        """Record a job with its items PENDING, the `gated` ones held for the scan gate (never
        sent again by a resume); False when the job already exists."""
        ...

    def mark_enqueued(self, job_id: str) -> JobRecord | None:
        """Every item of the job is on the queue: a repeated event must not send them again,
        and the job may complete (a tree job stays ENUMERATING until then). Returns the job
        when this closed it."""
        ...

    def add_items(self, job_id: str, items: Sequence[WorkItem]) -> list[WorkItem]:
        """Record and count work found while the job runs; items recorded before (a
        redelivery) are neither overwritten nor counted again. Returns the new ones."""
        ...

    def claim(self, item: WorkItem) -> ItemRecord | None:
        """Move an item to RUNNING (attempts + 1); None when it is already finished."""
        ...

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
        """Record a terminal status once and count it on the job, atomically. A repository
        item also counts the images it found present (`images_skipped`); one whose
        repository `continued` in another page does not count the repository yet.
        Returns the job when this closed it."""
        ...

    def record_gate(self, item: WorkItem, outcome: GateOutcome, execution: str) -> Recorded:
        """Record the scan gate's outcome on a PENDING item, once: let through, why (the
        worker finishes it later); held, the item ends BLOCKED or FAILED and counts on its
        job as `finish` counts it."""
        ...

    def release(self, item: WorkItem, error: str, error_kind: str) -> None:
        """Back to PENDING after a retryable failure, keeping the reason."""
        ...

    def get_job(self, job_id: str) -> JobRecord | None: ...

    def list_jobs(self, limit: int = 50, status: JobStatus | None = None) -> list[JobRecord]:
        """The most recent jobs (in that status), newest first."""
        ...

    def list_items(self, job_id: str) -> list[ItemRecord]: ...

    def failures(self, job_id: str, limit: int = 20) -> list[ItemRecord]:
        """The job's most recent failures with their reasons."""
        ...

    def reopen(self, job_id: str, include_failed: bool) -> Iterator[WorkItem]:
        """The job's items that are not finished, page by page, to send again; with
        `include_failed`, FAILED items are moved back to PENDING (and uncounted) first. Items
        the scan gate holds are its own: they are not sent."""
        ...


class JobNotifier(Protocol):
    def job_finished(self, job: JobRecord) -> None:
        """Tell the world a job ended (an EventBridge event, say); never raises for it."""
        ...


class GateCovered(BaseModel):
    """An item whose image and destination another job's gate already holds."""

    item: WorkItem
    execution: str
    job_id: str


class ScanGate(Protocol):
    def start(self, requests: Sequence[GateRequest]) -> list[GateCovered]:
        """Hold each item until its image's scan passes (the scan-gate state machine), one gate
        per (source digest, destination); starting the same item again is a no-op. Returns the
        items another job's gate already covers, which this job must not wait for."""
        ...

    def wake(self, tokens: Sequence[str]) -> int:
        """End parked waits now (their image's scan finished); returns how many were still
        waiting. A wait that is over already is skipped."""
        ...


class PulledMessage(BaseModel):
    ack_id: str
    message_id: str
    data: bytes
    publish_time: datetime | None = None


class NotificationSource(Protocol):
    """A subscription to registry notifications (GAR's `gcr` topic), pulled on a schedule."""

    def pull(self, max_messages: int) -> list[PulledMessage]: ...

    def ack(self, ack_ids: Sequence[str]) -> None: ...

    def nack(self, ack_ids: Sequence[str]) -> None:
        """Make the messages available again at once (their work could not be enqueued)."""
        ...
