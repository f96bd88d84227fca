"""The Logs Insights poller on recorded result shapes (tests/fixtures/insights): polling with
backoff, the timeout and Ctrl-C (StopQuery, partial rows kept), the 10,000-row limit narrowed
by splitting the window, and the rows parsed into log records."""

from __future__ import annotations

import bisect
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from freightliner.adapters.aws.insights_queries import ROW_LIMIT
from freightliner.adapters.aws.logs_insights import InsightsSearch, parse_row, parse_timestamp
from freightliner.domain.errors import Forbidden
from freightliner.domain.trace import LogCriteria

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "insights"
CRITERIA = LogCriteria(correlation_ids=["6a7e3c1e-1d5b-4f0e-9a55-2f4a1c0b9d11"])


def recording(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self.interrupt_after: int | None = None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if self.interrupt_after is not None and len(self.slept) >= self.interrupt_after:
            raise KeyboardInterrupt
        self.slept.append(seconds)
        self.now += seconds


class RecordedLogs:
    """A `logs` client answering with a recorded StartQuery reply and GetQueryResults polls
    (the last one repeats)."""

    def __init__(
        self,
        recorded: dict[str, Any],
        start_errors: list[str] | None = None,
        get_errors: list[str] | None = None,
    ) -> None:
        self.recorded = recorded
        self.get_errors = list(get_errors or [])
        self.polls = list(recorded["polls"])
        self.started: list[dict[str, Any]] = []
        self.stopped: list[str] = []
        self.start_errors = list(start_errors or [])

    def start_query(self, **kwargs: Any) -> dict[str, Any]:
        if self.start_errors:
            code = self.start_errors.pop(0)
            raise ClientError({"Error": {"Code": code, "Message": code}}, "StartQuery")
        self.started.append(kwargs)
        return dict(self.recorded["start"])

    def get_query_results(self, queryId: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        assert queryId == self.recorded["start"]["queryId"]
        if self.get_errors:
            code = self.get_errors.pop(0)
            raise ClientError({"Error": {"Code": code, "Message": code}}, "GetQueryResults")
        return dict(self.polls.pop(0) if len(self.polls) > 1 else self.polls[0])

    def stop_query(self, queryId: str) -> dict[str, Any]:  # noqa: N803
        self.stopped.append(queryId)
        return {"success": True}


def search(client: Any, time: FakeTime, **kwargs: Any) -> InsightsSearch:
    return InsightsSearch(
        client, ["/aws/lambda/replicate"], clock=time.clock, sleep=time.sleep, **kwargs
    )


def test_polls_with_growing_delays_until_complete_and_parses_the_rows() -> None:
    time, client = FakeTime(), RecordedLogs(recording("trace_run.json"))
    result = search(client, time).search(CRITERIA, 1_764_000_000.2, 1_764_003_600.5)
    assert time.slept == [0.5, 1.0, 2.0]  # Scheduled, Running, Running, then Complete
    assert client.stopped == []
    started = client.started[0]
    assert (started["startTime"], started["endTime"]) == (1_764_000_000, 1_764_003_601)
    assert started["limit"] == ROW_LIMIT
    assert 'correlation_id = "6a7e3c1e-1d5b-4f0e-9a55-2f4a1c0b9d11"' in started["queryString"]
    assert result.complete and not result.notes
    retry, failed, end = result.records
    assert retry.fields["retry_in"] == 30 and retry.level == "WARNING"
    assert failed.level == "ERROR" and failed.fields["error_kind"] == "forbidden"
    assert failed.origin == "/aws/lambda/freightliner-ReplicateFunction-Xb12"
    assert end.fields == {"message": "END RequestId: 8a1f"}
    assert retry.at == parse_timestamp("2026-11-25 17:54:35.101")


def test_a_query_that_outlives_the_timeout_is_stopped_and_its_rows_kept() -> None:
    time, client = FakeTime(), RecordedLogs(recording("never_finishes.json"))
    result = search(client, time, timeout=10.0, max_delay=4.0).search(CRITERIA, 0, 60)
    assert client.stopped == [recording("never_finishes.json")["start"]["queryId"]]
    assert time.slept == [0.5, 1.0, 2.0, 4.0]  # the next 4 s would pass the 10 s deadline
    assert not result.complete and not result.interrupted
    assert "timed out after 10 s" in result.notes[0]
    assert [r.fields["attempt"] for r in result.records] == [1]


def test_ctrl_c_stops_the_query_and_returns_what_came_back() -> None:
    time, client = FakeTime(), RecordedLogs(recording("trace_run.json"))
    time.interrupt_after = 2  # Scheduled, Running (one row), then Ctrl-C while waiting
    result = search(client, time).search(CRITERIA, 0, 60)
    assert client.stopped == [recording("trace_run.json")["start"]["queryId"]]
    assert result.interrupted and not result.complete
    assert len(result.records) == 1


def test_a_failed_query_is_reported_partial() -> None:
    time = FakeTime()
    client = RecordedLogs({"start": {"queryId": "q"}, "polls": [recording("failed.json")]})
    result = search(client, time).search(CRITERIA, 0, 60)
    assert not result.complete
    assert "ended Failed" in result.notes[0]


def test_too_many_concurrent_queries_waits_and_starts_again() -> None:
    time = FakeTime()
    client = RecordedLogs(recording("trace_run.json"), ["LimitExceededException"] * 2)
    result = search(client, time).search(CRITERIA, 0, 60)
    assert time.slept[:2] == [0.5, 1.0] and len(client.started) == 1
    assert result.complete and len(result.records) == 3


def test_a_denied_query_is_the_taxonomy_error() -> None:
    client = RecordedLogs(recording("trace_run.json"), ["AccessDeniedException"])
    with pytest.raises(Forbidden):
        search(client, FakeTime()).search(CRITERIA, 0, 60)


class WindowedLogs:
    """Logs Insights over `stamps` (epoch ms): each query returns the first `limit` lines of
    its window and how many matched, as the service does (its limit: 10,000)."""

    def __init__(self, stamps: list[int]) -> None:
        self.stamps = sorted(stamps)
        self.limits: list[int] = []
        self.windows: list[tuple[int, int]] = []
        self.queries: dict[str, tuple[int, int]] = {}

    def start_query(self, **kwargs: Any) -> dict[str, Any]:
        window = (kwargs["startTime"], kwargs["endTime"])
        self.limits.append(kwargs["limit"])
        assert kwargs["queryString"].endswith(f"| limit {kwargs['limit']}")
        self.windows.append(window)
        query_id = f"q{len(self.windows)}"
        self.queries[query_id] = window
        return {"queryId": query_id}

    def get_query_results(self, queryId: str) -> dict[str, Any]:  # noqa: N803
        low, high = self.queries[queryId]
        first = bisect.bisect_left(self.stamps, low * 1000)
        matched = bisect.bisect_right(self.stamps, high * 1000) - first
        rows = [
            [
                {"field": "@timestamp", "value": str(self.stamps[n])},
                {"field": "@message", "value": json.dumps({"message": "m", "n": n})},
                {"field": "@ptr", "value": f"p{n}"},
            ]
            for n in range(first, first + min(matched, self.limits[-1]))
        ]
        return {"status": "Complete", "results": rows, "statistics": {"recordsMatched": matched}}

    def stop_query(self, queryId: str) -> dict[str, Any]:  # noqa: N803
        return {"success": True}


# The row limit is the service's 10,000 by default; these use 100 to keep the rows few.
def test_more_than_the_row_limit_is_split_into_narrower_windows_until_all_are_read() -> None:
    stamps = [1_000_000 + i * 3700 for i in range(250)]  # 250 lines over 925 s
    client = WindowedLogs(stamps)
    result = search(client, FakeTime(), row_limit=100).search(CRITERIA, 1000, 1930)
    assert result.complete, result.notes
    assert sorted(r.fields["n"] for r in result.records) == list(range(250))  # each once
    assert client.windows[0] == (1000, 1930)
    assert all(high - low < 930 for low, high in client.windows[1:])


def test_narrowing_stops_at_its_query_budget_and_says_lines_are_missing() -> None:
    client = WindowedLogs([1_000_000 + i * 3700 for i in range(250)])
    result = search(client, FakeTime(), max_queries=3, row_limit=100).search(CRITERIA, 1000, 1930)
    assert len(client.windows) <= 3
    assert not result.complete
    assert any("more than 100 lines" in n for n in result.notes)


def test_a_second_with_more_than_the_row_limit_cannot_be_split() -> None:
    client = WindowedLogs([5_000_000 + (i % 1000) for i in range(120)])  # all in 1 s
    result = search(client, FakeTime(), row_limit=100).search(CRITERIA, 5000, 5000.5)
    assert len(client.windows) == 1
    assert not result.complete and len(result.records) == 100


def test_at_most_fifty_log_groups_go_into_one_query() -> None:
    client = RecordedLogs(recording("trace_run.json"))
    groups = [f"/aws/lambda/f{n}" for n in range(120)]
    time = FakeTime()
    InsightsSearch(client, groups, clock=time.clock, sleep=time.sleep).search(CRITERIA, 0, 60)
    assert [len(s["logGroupNames"]) for s in client.started] == [50, 50, 20]


def test_rows_without_a_time_are_skipped_and_epoch_milliseconds_are_read() -> None:
    assert parse_row([{"field": "@message", "value": "x"}]) is None
    parsed = parse_row([{"field": "@timestamp", "value": "1764093274123"}])
    assert parsed is not None and parsed[1].at == pytest.approx(1_764_093_274.123)


def test_ctrl_c_while_waiting_for_a_query_slot_starts_nothing_and_stops_nothing() -> None:
    time = FakeTime()
    time.interrupt_after = 1
    client = RecordedLogs(recording("trace_run.json"), ["LimitExceededException"] * 5)
    result = search(client, time).search(CRITERIA, 0, 60)
    assert result.interrupted and client.started == [] and client.stopped == []


def test_no_free_query_slot_before_the_deadline_is_a_timeout() -> None:
    time = FakeTime()
    client = RecordedLogs(recording("trace_run.json"), ["LimitExceededException"] * 50)
    result = search(client, time, timeout=5.0).search(CRITERIA, 0, 60)
    assert client.started == [] and not result.complete and "timed out" in result.notes[0]


def test_throttled_polls_wait_and_poll_again() -> None:
    time = FakeTime()
    client = RecordedLogs(recording("trace_run.json"), get_errors=["ThrottlingException"] * 2)
    result = search(client, time).search(CRITERIA, 0, 60)
    assert time.slept == [0.5, 1.0, 2.0, 4.0, 5.0]  # two throttled polls, then as before
    assert result.complete and len(result.records) == 3
