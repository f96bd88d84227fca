"""Large uploads that outlive one invocation.

A blob at or above the threshold records its upload session (the registry's URL and the
bytes it acknowledged) with its work item after every chunk. A later attempt, in this
invocation or another, asks the registry how much of that session it holds and continues
from there; a session the registry has forgotten, or reports inconsistently, is dropped and
the upload starts over. Nothing is trusted for content: the source is read again from its
start and hashed whole, and the registry checks the digest the final PUT names.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from freightliner.domain.digest import Digest
from freightliner.domain.errors import DigestMismatch, NotFound, Unavailable
from freightliner.domain.uploads import UploadOwner, UploadSession
from freightliner.ports.registry import BlobSource, Registry
from freightliner.ports.uploads import UploadSessions

log = logging.getLogger(__name__)
SESSION_OPERATIONS = ("PATCH blob", "PUT blob")
"""Where a session the registry lost mid-way shows (another delivery of the same item may
have finished it, or the registry purged it): retried from the start, not a missing image."""


def _never() -> bool:
    return False


class InvocationClock(Protocol):
    """Lambda's context, or `InvocationDeadline` where the runtime hands none."""

    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class Deadline:
    """Stop when fewer than `margin` seconds are left of this invocation (`remaining`
    reports them)."""

    remaining: Callable[[], float]
    margin: float

    @classmethod
    def of(cls, invocation: InvocationClock, margin: float) -> Deadline:
        return cls(lambda: invocation.get_remaining_time_in_millis() / 1000, margin)

    def near(self) -> bool:
        return self.remaining() <= self.margin


@dataclass(frozen=True)
class Resumable:
    """What lets one work item's large uploads continue elsewhere: where their sessions are
    kept, the size from which a blob is resumable, and when to stop between chunks."""

    sessions: UploadSessions
    owner: UploadOwner
    threshold: int
    stop: Callable[[], bool] = field(default=_never)

    def applies(self, size: int) -> bool:
        return size >= self.threshold


@dataclass(frozen=True)
class ResumePolicy:
    """A worker's resumption settings; `for_item` binds them to the item it runs."""

    sessions: UploadSessions
    threshold: int
    deadline: Deadline | None = None

    def for_item(self, owner: UploadOwner) -> Resumable:
        stop = self.deadline.near if self.deadline is not None else _never
        return Resumable(self.sessions, owner, self.threshold, stop)


def upload_resumable(
    dest: Registry,
    repository: str,
    digest: Digest,
    size: int,
    source: BlobSource,
    *,
    resumable: Resumable,
    location: str | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    """Upload one blob, continuing its recorded session where the registry still holds it.
    `location`: a session the registry already opened (a refused mount), used when there is
    nothing to continue. `UploadPaused` (the session recorded) passes through when `stop`
    says so; a paused session, or one that failed retryably, is kept for the next attempt."""
    sessions, owner, key = resumable.sessions, resumable.owner, str(digest)
    offset = 0
    stored = sessions.get(owner, key)
    if stored is not None:
        held = dest.upload_offset(repository, stored.location) if stored.size == size else None
        if held is not None and held <= size:
            location, offset = stored.location, held
            log.info("upload of %s continues at byte %d of %d", digest.short, held, size)
        else:
            log.info("upload session of %s is gone or inconsistent: starting over", digest.short)
            sessions.drop(owner, key)

    def record(at: str, acknowledged: int) -> None:
        sessions.save(owner, UploadSession(digest=key, size=size, location=at, offset=acknowledged))

    try:
        dest.upload_blob(
            repository,
            digest,
            size,
            source,
            location=location,
            on_bytes=on_bytes,
            offset=offset,
            on_chunk=record,
            stop=resumable.stop,
        )
    except DigestMismatch:
        sessions.drop(owner, key)  # bad bytes: start over next time
        raise
    except NotFound as exc:
        sessions.drop(owner, key)
        if exc.where.registry == dest.host and exc.where.operation in SESSION_OPERATIONS:
            raise Unavailable(
                f"the registry lost the upload session mid-way ({exc.detail}); starting over",
                exc.where,
            ) from None
        raise
    sessions.drop(owner, key)
