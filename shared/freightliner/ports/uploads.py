"""The port that keeps large uploads' sessions with their work item (the state table, or
memory in tests), so a retry on another invocation continues where the last one stopped."""

from __future__ import annotations

from typing import Protocol

from freightliner.domain.uploads import UploadOwner, UploadSession


class UploadSessions(Protocol):
    def get(self, owner: UploadOwner, digest: str) -> UploadSession | None:
        """The session last recorded for this item's blob, if any."""
        ...

    def save(self, owner: UploadOwner, session: UploadSession) -> None:
        """Record (replace) the blob's session after the registry acknowledged a chunk."""
        ...

    def drop(self, owner: UploadOwner, digest: str) -> None:
        """Forget the blob's session: it committed, or it cannot be continued."""
        ...
