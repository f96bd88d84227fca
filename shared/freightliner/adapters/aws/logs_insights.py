"""A trace's log lines from CloudWatch Logs Insights: StartQuery, GetQueryResults polled with
a growing delay, StopQuery when the time is up or the user presses Ctrl-C (what came back so
far is kept, and said to be partial).

One query returns at most 10,000 rows: a window that matched more is split in two and each
half queried again (its rows kept; lines are told apart by `@ptr`), down to one second, within
a budget of queries. At most 50 log groups go into one query.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import aws_error, error_code
from freightliner.adapters.aws.insights_queries import ROW_LIMIT, trace_query
from freightliner.domain.errors import RateLimited, Where
from freightliner.domain.trace import LogCriteria, LogRecord, LogSearchResult

GROUPS_PER_QUERY = 50  # StartQuery's limit on logGroupNames
_FINISHED = {"Complete", "Failed", "Cancelled", "Timeout", "Unknown"}


def parse_timestamp(value: str) -> float:
    """Insights' `@timestamp` (`2026-11-25 17:54:34.123`, UTC) or epoch milliseconds."""
    if value.isdigit():
        return int(value) / 1000
    parsed = datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f")  # UTC: made aware below
    return parsed.replace(tzinfo=UTC).timestamp()


def parse_row(row: Sequence[dict[str, str]]) -> tuple[str, LogRecord] | None:
    """A result row as (`@ptr`, record): the JSON line's fields, with any field the query
    returned besides; None for a row without a time."""
    values = {cell["field"]: cell.get("value", "") for cell in row if "field" in cell}
    stamp = values.get("@timestamp")
    if not stamp:
        return None
    fields: dict[str, Any] = {}
    message = values.get("@message", "")
    try:
        decoded = json.loads(message) if message.startswith("{") else None
    except ValueError:
        decoded = None
    if isinstance(decoded, dict):
        fields.update(decoded)
    elif message:
        fields["message"] = message.rstrip("\n")
    fields.update({k: v for k, v in values.items() if not k.startswith("@")})
    group = values.get("@log", "")
    origin = group.split(":", 1)[1] if ":" in group else group  # `account:group` in AWS
    pointer = values.get("@ptr") or f"{stamp}|{group}|{message}"
    return pointer, LogRecord(at=parse_timestamp(stamp), origin=origin, fields=fields)


@dataclass
class _Query:
    rows: list[list[dict[str, str]]] = field(default_factory=list)
    status: str = ""
    matched: int = 0
    stopped: str = ""  # why it was stopped early: "timeout" or "interrupted"


class _Interrupted(Exception):
    def __init__(self, query: _Query) -> None:
        super().__init__("interrupted")
        self.query = query


class InsightsSearch:
    """A LogSearch over the stack's log groups."""

    source = "cloudwatch"

    def __init__(
        self,
        client: Any,
        log_groups: Sequence[str],
        *,
        timeout: float = 120.0,
        max_queries: int = 32,
        row_limit: int = ROW_LIMIT,
        first_delay: float = 0.5,
        max_delay: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client  # a boto3 `logs` client, built by the composition root
        self._groups = list(log_groups)
        self._timeout = timeout
        self._max_queries = max_queries
        self._row_limit = row_limit  # what one query returns at most (the service's cap)
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._clock = clock
        self._sleep = sleep

    def search(self, criteria: LogCriteria, start: float, end: float) -> LogSearchResult:
        result = LogSearchResult(source=self.source)
        query = trace_query(criteria, self._row_limit)
        deadline = self._clock() + self._timeout
        found: dict[str, LogRecord] = {}
        windows = [(int(start), max(int(start), int(end + 0.999)))]
        budget = self._max_queries
        per_window = -(-len(self._groups) // GROUPS_PER_QUERY)  # queries one window takes
        if not per_window:
            result.notes.append("no CloudWatch log group to search")
        while windows and per_window:
            low, high = windows.pop(0)
            for offset in range(0, len(self._groups), GROUPS_PER_QUERY):
                groups = self._groups[offset : offset + GROUPS_PER_QUERY]
                budget -= 1
                try:
                    ran = self._run(query, groups, low, high, deadline)
                except _Interrupted as stop:
                    self._keep(stop.query, found)
                    result.interrupted = True
                    result.complete = False
                    result.notes.append("interrupted: the log search was stopped")
                    windows = []
                    break
                self._keep(ran, found)
                if ran.stopped or ran.status != "Complete":
                    result.complete = False
                    why = (
                        f"timed out after {self._timeout:.0f} s"
                        if ran.stopped
                        else f"ended {ran.status}"
                    )
                    result.notes.append(
                        f"the CloudWatch query {why}: lines between {_iso(low)} and "
                        f"{_iso(high)} may be missing"
                    )
                    if ran.stopped:
                        windows = []
                        break
                    continue
                if not self._truncated(ran):
                    continue
                if high - low >= 2 and budget >= 2 * per_window:
                    middle = (low + high) // 2
                    windows[:0] = [(low, middle), (middle, high)]
                    break  # the halves cover every log group again
                result.complete = False
                result.notes.append(
                    f"more than {self._row_limit} lines between {_iso(low)} and {_iso(high)}: "
                    f"only the first {self._row_limit} are shown"
                )
        result.records = sorted(found.values(), key=lambda r: r.at)
        return result

    def _truncated(self, query: _Query) -> bool:
        return len(query.rows) >= self._row_limit or query.matched > len(query.rows)

    @staticmethod
    def _keep(query: _Query, found: dict[str, LogRecord]) -> None:
        for row in query.rows:
            parsed = parse_row(row)
            if parsed is not None:
                found.setdefault(parsed[0], parsed[1])

    def _run(self, query: str, groups: list[str], start: int, end: int, deadline: float) -> _Query:
        """One query to its end, its time out or Ctrl-C (then stopped, with its rows so
        far)."""
        ran = _Query()
        try:
            query_id = self._start(query, groups, start, end, deadline)
        except KeyboardInterrupt:  # while waiting for a free query slot: nothing to stop
            ran.stopped = "interrupted"
            raise _Interrupted(ran) from None
        if query_id is None:
            ran.stopped = "timeout"
            return ran
        delay = self._first_delay
        try:
            while True:
                try:
                    reply = self._call(
                        "GetQueryResults", self._client.get_query_results, queryId=query_id
                    )
                except RateLimited:  # GetQueryResults allows a few calls a second: wait
                    reply = None
                if reply is not None:
                    ran.rows = reply.get("results") or ran.rows
                    ran.status = str(reply.get("status", ""))
                    statistics = reply.get("statistics") or {}
                    ran.matched = int(float(statistics.get("recordsMatched", 0)))
                    if ran.status in _FINISHED:
                        return ran
                if self._clock() + delay > deadline:
                    ran.stopped = "timeout"
                    self._stop(query_id)
                    return ran
                self._sleep(delay)
                delay = min(delay * 2, self._max_delay)
        except KeyboardInterrupt:
            ran.stopped = "interrupted"
            self._stop(query_id)
            raise _Interrupted(ran) from None

    def _start(
        self, query: str, groups: list[str], start: int, end: int, deadline: float
    ) -> str | None:
        """The query's id; too many queries at once (the account's limit) waits and tries
        again until the deadline (then None)."""
        delay = self._first_delay
        while True:
            try:
                reply = self._client.start_query(
                    logGroupNames=groups,
                    startTime=start,
                    endTime=end,
                    queryString=query,
                    limit=self._row_limit,
                )
                return str(reply["queryId"])
            except ClientError as exc:
                if error_code(exc) != "LimitExceededException":
                    raise aws_error(exc, _where("StartQuery")) from None
            except BotoCoreError as exc:
                raise aws_error(exc, _where("StartQuery")) from None
            if self._clock() + delay > deadline:
                return None
            self._sleep(delay)
            delay = min(delay * 2, self._max_delay)

    def _stop(self, query_id: str) -> None:
        """Best effort: a query that just finished cannot be stopped, and that is fine."""
        try:
            self._client.stop_query(queryId=query_id)
        except (ClientError, BotoCoreError):
            return

    @staticmethod
    def _call(operation: str, method: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
        try:
            return dict(method(**kwargs))
        except (ClientError, BotoCoreError) as exc:
            raise aws_error(exc, _where(operation)) from None


def _where(operation: str) -> Where:
    return Where(registry="logs", operation=f"logs:{operation}")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
