"""Units of work that travel through the queue, and the states they move through.

An item's identity is (job, destination reference, source digest), never a queue message id:
a re-enqueued or re-delivered item is recognised as the same work.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from freightliner.domain.compression import Compression
from freightliner.domain.errors import InvalidInput
from freightliner.domain.reference import Reference
from freightliner.domain.scans import ScanPolicy


class ItemStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    BLOCKED = "BLOCKED"  # held back by the scan gate


TERMINAL = frozenset({ItemStatus.DONE, ItemStatus.FAILED, ItemStatus.SKIPPED, ItemStatus.BLOCKED})


class RepositoryPage(BaseModel):
    """Where a repository item resumes: large repositories expand a page per invocation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: str = Field(description="the last tag an earlier page expanded")
    enqueued: int = Field(default=0, ge=0, description="images earlier pages enqueued")


class WorkItem(BaseModel):
    """One image to copy to one destination, one destination image to delete or tag to
    remove (untag), or one
    repository (a page of it) of a tree sync to expand into image items."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    action: Literal["copy", "delete", "untag", "repository"] = "copy"
    job_id: str = Field(min_length=1)
    source: str = Field(description="full reference, pinned by digest")
    destination: str = Field(description="destination reference with its tag (or digest)")
    source_digest: str = Field(description="empty for a repository item")
    platforms: list[str] = Field(default_factory=list)
    referrers: bool = False
    force: bool = False
    verify: bool = False
    rule: str = ""
    correlation_id: str = ""
    page: RepositoryPage | None = None
    pushed_at: float | None = Field(
        default=None,
        description="when the source image was pushed (epoch seconds, from the event), for the "
        "ReplicationLag metric; not part of the item's identity nor of its authorization: it "
        "changes no copy, only that metric",
    )

    def lag(self, now: float) -> float | None:
        """Seconds from the push to `now`; None when the event gave no push time."""
        if self.pushed_at is None:
            return None
        return max(0.0, round(now - self.pushed_at, 3))

    attempt: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="counted retryable failures so far: a re-sent item carries it, since a new "
        "message's receive count starts again (not part of the item's identity)",
    )
    compress: Compression | None = Field(default=None, description="transcode layers to zstd")

    @property
    def item_id(self) -> str:
        key = f"{self.job_id}|{self.destination}|{self.source_digest}|{self.action}"
        if self.page is not None:
            key += f"|after:{self.page.after}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    @property
    def trace_id(self) -> str:
        """The correlation id a queue message carries: never empty."""
        return self.correlation_id or self.job_id


def job_id_for(event_id: str, digest: str) -> str:
    """A deterministic job id per (event, digest): duplicate deliveries map to one job."""
    return "evt-" + hashlib.sha256(f"{event_id}|{digest}".encode()).hexdigest()[:24]


class GateRequest(BaseModel):
    """An item held for the scan gate with its rule's policy: the gate execution's input."""

    model_config = ConfigDict(frozen=True)

    item: WorkItem
    policy: ScanPolicy

    @computed_field  # type: ignore[prop-decorator]
    @property
    def item_id(self) -> str:
        return self.item.item_id

    @computed_field  # type: ignore[prop-decorator]
    @property
    def correlation_id(self) -> str:
        return self.item.trace_id

    @property
    def execution_name(self) -> str:
        return gate_execution_name(self.item.source_digest, self.item.destination)

    def image(self) -> Reference:
        """The held item's source, which the gate checks: it must be pinned by digest."""
        image = Reference.parse(self.item.source)
        if image.digest is None:
            raise InvalidInput(f"scan gate: source {self.item.source} is not pinned by digest")
        return image


def gate_execution_name(source_digest: str, destination: str) -> str:
    """One gate per (source digest, destination): a repeated event cannot start a second gate
    for the same work (Step Functions keeps execution names unique for 90 days)."""
    key = f"{source_digest}|{destination}"
    return "gate-" + hashlib.sha256(key.encode()).hexdigest()[:40]


class GateOutcome(BaseModel):
    """What the scan gate decided for its held item: PENDING lets it through to the queue (the
    reason says why); BLOCKED (findings over the policy, or a failed scan) and FAILED (a
    task failed for good) end it with that reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: ItemStatus
    reason: str
    error_kind: str = ""
    findings: dict[str, int] = Field(default_factory=dict, description="findings per severity")

    @field_validator("status")
    @classmethod
    def _gate_status(cls, value: ItemStatus) -> ItemStatus:
        if value not in (ItemStatus.PENDING, ItemStatus.BLOCKED, ItemStatus.FAILED):
            raise ValueError("the scan gate leaves an item PENDING, BLOCKED or FAILED")
        return value
