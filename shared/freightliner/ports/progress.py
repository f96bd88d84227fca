"""The progress port: what a copy reports as it goes, for a terminal bar, logs or metrics."""

from __future__ import annotations

from typing import Protocol


class ProgressSink(Protocol):
    def blob_started(self, digest: str, size: int) -> None: ...

    def bytes_moved(self, count: int) -> None: ...

    def blob_done(self, digest: str, size: int, how: str) -> None:
        """`how` is one of "copied", "mounted", "skipped"."""
        ...


class NullProgress:
    """Reports nothing; the default when nobody is watching."""

    def blob_started(self, digest: str, size: int) -> None:
        return None

    def bytes_moved(self, count: int) -> None:
        return None

    def blob_done(self, digest: str, size: int, how: str) -> None:
        return None
