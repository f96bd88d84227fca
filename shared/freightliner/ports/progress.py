"""The progress port: what a copy reports as it goes, for a terminal bar, logs or metrics."""

from __future__ import annotations

from typing import Protocol


class ProgressSink(Protocol):
    def blobs_planned(self, count: int, size: int) -> None:
        """A manifest tree's blobs are known (before any is checked or moved): the total a
        bar can show. Called once per image tree copied."""
        ...

    def blob_started(self, digest: str, size: int) -> None: ...

    def bytes_moved(self, count: int) -> None:
        """`count` more bytes sent; negative when a failed attempt's bytes are to be sent
        again, so a retried blob is counted once."""
        ...

    def blob_done(self, digest: str, size: int, how: str) -> None:
        """`how` is one of "copied", "mounted", "skipped"."""
        ...


class NullProgress:
    """Reports nothing; the default when nobody is watching."""

    def blobs_planned(self, count: int, size: int) -> None:
        return None

    def blob_started(self, digest: str, size: int) -> None:
        return None

    def bytes_moved(self, count: int) -> None:
        return None

    def blob_done(self, digest: str, size: int, how: str) -> None:
        return None
