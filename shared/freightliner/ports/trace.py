"""Ports `freightliner trace` reads through: the state table's trace index (jobs by
correlation id, items by source digest) and the log searches (CloudWatch Logs Insights,
Cloud Logging)."""

from __future__ import annotations

from typing import Protocol

from freightliner.domain.jobs import JobRecord
from freightliner.domain.trace import LogCriteria, LogSearchResult
from freightliner.ports.work import ItemRecord


class TraceIndex(Protocol):
    def get_job(self, job_id: str) -> JobRecord | None: ...

    def list_items(self, job_id: str) -> list[ItemRecord]: ...

    def jobs_by_correlation(self, correlation_id: str) -> list[JobRecord]:
        """The jobs an event (its correlation id) made."""
        ...

    def items_by_digest(self, prefix: str) -> list[ItemRecord]:
        """Items whose source digest starts with `prefix` (`sha256:<hex…>`), newest last,
        bounded."""
        ...


class LogSearch(Protocol):
    source: str  # what the timeline names its lines after: cloudwatch, cloud-logging

    def search(self, criteria: LogCriteria, start: float, end: float) -> LogSearchResult:
        """The log lines matching `criteria` between `start` and `end` (epoch seconds), as
        many as it can get; a search cut short says so in its result. Ctrl-C stops the
        search and returns what it found with `interrupted` set."""
        ...
