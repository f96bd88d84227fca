"""The port that keeps a durable trace of work the worker refused to run."""

from __future__ import annotations

from typing import Protocol

from freightliner.domain.work import WorkItem


class RejectionLog(Protocol):
    def record(self, item: WorkItem, reason: str) -> None:
        """Keep the refused item and why, for an operator to audit; raise when it cannot."""
        ...
