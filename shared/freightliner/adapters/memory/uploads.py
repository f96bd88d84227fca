"""The `UploadSessions` port in memory, for in-process engine tests and the benchmarks."""

from __future__ import annotations

import threading

from freightliner.domain.uploads import UploadOwner, UploadSession


class MemoryUploadSessions:
    """Sessions by (item, digest); `saves` counts the writes a state table would take."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sessions: dict[tuple[UploadOwner, str], UploadSession] = {}
        self.saves = 0

    def get(self, owner: UploadOwner, digest: str) -> UploadSession | None:
        with self._lock:
            return self.sessions.get((owner, digest))

    def save(self, owner: UploadOwner, session: UploadSession) -> None:
        with self._lock:
            self.sessions[(owner, session.digest)] = session
            self.saves += 1

    def drop(self, owner: UploadOwner, digest: str) -> None:
        with self._lock:
            self.sessions.pop((owner, digest), None)
