"""A trace's GAR-side log lines (the Cloud Function's) from Cloud Logging: `entries:list`
(POST https://logging.googleapis.com/v2/entries:list) with a filter on the fields the
function logs, pages followed by `pageToken` until the entries, the pages or the time run
out (then the result says it is partial). Over the same GoogleRest client as every Google
API the project calls.

User input reaches the filter only as escaped string literals (quotes and backslashes
escaped; control characters refused).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from freightliner.adapters.gcp.google_rest import GoogleRest
from freightliner.domain.errors import InvalidInput, Where
from freightliner.domain.trace import SHORT_DIGEST, LogCriteria, LogRecord, LogSearchResult

API_ENDPOINT = "https://logging.googleapis.com"
API_HOST = "logging.googleapis.com"  # the key its Google credentials are kept under
PAGE_SIZE = 1000  # entries:list's largest page
_STAMP = re.compile(
    r"^(?P<base>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<frac>\d+))?(?P<tz>Z|[+-]\d\d:\d\d)$"
)


def string_literal(value: str) -> str:
    if not value.isprintable():
        raise InvalidInput("a log query value may not hold control characters")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def trace_filter(criteria: LogCriteria, start: float, end: float) -> str:
    """Entries of the window carrying any of the identifiers (in their JSON payload)."""
    if criteria.empty:
        raise InvalidInput("a trace query needs a correlation id, a job id or a digest")
    matches = [f"jsonPayload.correlation_id={string_literal(c)}" for c in criteria.correlation_ids]
    matches += [f"jsonPayload.job_id={string_literal(j)}" for j in criteria.job_ids]
    for digest in criteria.digests:
        if len(digest) >= SHORT_DIGEST:
            matches.append(f"jsonPayload.digest={string_literal(digest[:SHORT_DIGEST])}")
        else:  # a prefix: a regular expression anchored at the start, metacharacters escaped
            matches.append(f"jsonPayload.digest=~{string_literal('^' + re.escape(digest))}")
    return f'timestamp>="{_iso(start)}" AND timestamp<="{_iso(end)}" AND ({" OR ".join(matches)})'


def parse_timestamp(value: str) -> float:
    """RFC 3339 with up to nanoseconds (`2026-11-25T17:54:34.123456789Z`)."""
    match = _STAMP.match(value)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {value!r}")
    zone = "+00:00" if match["tz"] == "Z" else match["tz"]
    base = datetime.fromisoformat(str(match["base"]) + zone).timestamp()
    return base + float(f"0.{match['frac'] or 0}")


def parse_entry(entry: dict[str, Any]) -> LogRecord | None:
    """A LogEntry as a record: its JSON payload's fields (or its text), its severity, and the
    function that wrote it; None without a time."""
    stamp = entry.get("timestamp") or entry.get("receiveTimestamp")
    if not isinstance(stamp, str):
        return None
    try:
        at = parse_timestamp(stamp)
    except ValueError:
        return None
    payload = entry.get("jsonPayload")
    fields: dict[str, Any] = dict(payload) if isinstance(payload, dict) else {}
    if not fields and isinstance(entry.get("textPayload"), str):
        fields["message"] = entry["textPayload"]
    if entry.get("severity"):
        fields.setdefault("severity", entry["severity"])
    labels = (entry.get("resource") or {}).get("labels") or {}
    origin = labels.get("function_name") or labels.get("service_name") or entry.get("logName", "")
    return LogRecord(at=at, origin=str(origin), fields=fields)


class CloudLoggingSearch:
    """A LogSearch over one project's Cloud Logging."""

    source = "cloud-logging"

    def __init__(
        self,
        rest: GoogleRest,
        project: str,
        endpoint: str = API_ENDPOINT,
        *,
        timeout: float = 120.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rest = rest
        self._project = project
        self._url = f"{endpoint.rstrip('/')}/v2/entries:list"
        self._timeout = timeout
        self._max_entries = max_entries
        self._clock = clock

    def search(self, criteria: LogCriteria, start: float, end: float) -> LogSearchResult:
        result = LogSearchResult(source=self.source)
        body: dict[str, Any] = {
            "resourceNames": [f"projects/{self._project}"],
            "filter": trace_filter(criteria, start, end),
            "orderBy": "timestamp asc",
            "pageSize": PAGE_SIZE,
        }
        where = Where(registry=API_HOST, operation="logging.entries.list")
        deadline = self._clock() + self._timeout
        try:
            while True:
                page = self._rest.call(
                    "POST", self._url, API_HOST, where, body=body, timeout=self._timeout
                )
                for entry in page.get("entries") or []:
                    record = parse_entry(entry) if isinstance(entry, dict) else None
                    if record is not None:
                        result.records.append(record)
                token = page.get("nextPageToken")
                if not token:
                    break
                if len(result.records) >= self._max_entries:
                    result.complete = False
                    result.notes.append(f"more than {self._max_entries} entries: the rest skipped")
                    break
                if self._clock() > deadline:
                    result.complete = False
                    result.notes.append(
                        f"timed out after {self._timeout:.0f} s: later entries missing"
                    )
                    break
                body["pageToken"] = token
        except KeyboardInterrupt:
            result.complete = False
            result.interrupted = True
            result.notes.append("interrupted: the log search was stopped")
        result.records = result.records[: self._max_entries]
        return result
