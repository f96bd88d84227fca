"""A large blob's upload session, kept with its work item so another invocation continues it,
and the signal that stops a copy between chunks before its invocation's deadline."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True, slots=True)
class UploadOwner:
    """The work item an upload session belongs to (its identity, never a message id)."""

    job_id: str
    item_id: str


class UploadSession(BaseModel):
    """Where a registry holds part of a blob: its upload URL and the bytes it acknowledged.
    The URL came from the registry: it is resumed only on that registry's own origin."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    digest: str
    size: int = Field(ge=0)
    location: str = Field(min_length=1, repr=False)  # may carry the registry's state token
    offset: int = Field(ge=0, description="bytes the registry acknowledged when recorded")


class UploadPaused(Exception):
    """The invocation's deadline is near: the copy stopped between chunks (its sessions are
    recorded) and must continue in a new invocation. Not in the error taxonomy: the worker
    hands the item off instead of failing it."""

    def __init__(self, offset: int = 0) -> None:
        super().__init__(f"stopped for the deadline at byte {offset} of a blob")
        self.offset = offset
