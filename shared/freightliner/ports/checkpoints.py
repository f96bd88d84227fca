"""The checkpoint port: where a tree sync records each image's outcome as it goes."""

from __future__ import annotations

from typing import Protocol

from freightliner.domain.work import ItemStatus


class CheckpointSink(Protocol):
    def record(
        self,
        job_id: str,
        item_id: str,
        *,
        repository: str,
        source: str,
        destination: str,
        status: ItemStatus,
        bytes_copied: int = 0,
        error: str | None = None,
    ) -> None: ...

    def progress(self, job_id: str, repositories: int, done: int, enumerated: bool) -> None:
        """Repositories found and finished so far, and whether the listing is complete."""
        ...
