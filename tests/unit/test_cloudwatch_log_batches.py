"""The CloudWatch Logs shipping handler's limits, without a network: batch sizes and counts
(with the 26 bytes per event), oversized events split at character boundaries, chronological
order, the 24-hour span, throttling retried, a full queue dropping and counting, never
blocking."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from freightliner.adapters.aws.cloudwatch_logs import (
    EVENT_OVERHEAD,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    MAX_MESSAGE_BYTES,
    MAX_SPAN_MS,
    CloudWatchLogsHandler,
    LogEvent,
    batches,
    split_event,
)

HOUR_MS = 3600 * 1000


def check(batch: list[LogEvent]) -> None:
    assert 0 < len(batch) <= MAX_BATCH_EVENTS
    assert sum(len(e.message.encode()) + EVENT_OVERHEAD for e in batch) <= MAX_BATCH_BYTES
    assert all(len(e.message.encode()) <= MAX_MESSAGE_BYTES for e in batch)
    assert [e.timestamp for e in batch] == sorted(e.timestamp for e in batch)
    assert batch[-1].timestamp - batch[0].timestamp < MAX_SPAN_MS


def test_ten_thousand_events_make_a_batch_and_one_more_starts_the_next() -> None:
    events = [LogEvent(1_000 + i, "x") for i in range(MAX_BATCH_EVENTS + 1)]
    found = list(batches(events))
    assert [len(b) for b in found] == [MAX_BATCH_EVENTS, 1]


def test_a_megabyte_counts_the_26_bytes_of_every_event() -> None:
    message = "y" * (1000 - EVENT_OVERHEAD)  # 1000 bytes with the overhead
    events = [LogEvent(5, message) for _ in range(1048)]  # 1,048,000 bytes: fits
    assert [len(b) for b in batches(events)] == [1048]
    events.append(LogEvent(5, message))  # 1,049,000 > 1,048,576 (without the 26s: it fits)
    assert [len(b) for b in batches(events)] == [1048, 1]


def test_an_event_over_256_kib_is_split_at_character_boundaries() -> None:
    message = "é" * 200_000  # 400,000 bytes of 2-byte characters
    parts = split_event(LogEvent(7, message))
    assert len(parts) == 2 and "".join(p.message for p in parts) == message
    assert all(len(p.message.encode()) <= MAX_MESSAGE_BYTES for p in parts)
    assert {p.timestamp for p in parts} == {7}


def test_batches_are_chronological_and_span_less_than_a_day() -> None:
    events = [LogEvent(30 * HOUR_MS, "c"), LogEvent(0, "a"), LogEvent(23 * HOUR_MS, "b")]
    found = list(batches(events))
    assert [[e.message for e in b] for b in found] == [["a", "b"], ["c"]]


@given(
    st.lists(
        st.tuples(st.integers(0, 72 * HOUR_MS), st.integers(0, 300_000)), min_size=1, max_size=60
    )
)
def test_every_batch_honours_every_limit(shapes: list[tuple[int, int]]) -> None:
    events = [LogEvent(ts, "z" * size) for ts, size in shapes]
    found = list(batches(events))
    for batch in found:
        check(batch)
    assert sum(len(e.message) for b in found for e in b) == sum(size for _, size in shapes)


class FakeLogs:
    """The three calls the handler makes, throttling the first `throttle` puts."""

    def __init__(self, throttle: int = 0, block: threading.Event | None = None) -> None:
        self.throttle = throttle
        self.block = block
        self.puts: list[dict[str, Any]] = []
        self.created: list[str] = []

    def create_log_group(self, **kwargs: Any) -> None:
        self.created.append(kwargs["logGroupName"])

    def create_log_stream(self, **kwargs: Any) -> None:
        self.created.append(kwargs["logStreamName"])

    def put_log_events(self, **kwargs: Any) -> dict[str, Any]:
        if self.block is not None:
            self.block.wait(10)
        if self.throttle:
            self.throttle -= 1
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                "PutLogEvents",
            )
        self.puts.append(kwargs)
        return {}


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("freightliner.test", logging.INFO, __file__, 1, message, None, None)


def test_throttling_is_retried_and_flush_sends_everything() -> None:
    client = FakeLogs(throttle=2)
    sleeps: list[float] = []
    handler = CloudWatchLogsHandler(client, "g", "s", sleep=sleeps.append)
    for i in range(5):
        handler.emit(_record(f"line {i}"))
    handler.flush()
    assert client.created == ["g", "s"] and len(sleeps) == 2
    [put] = client.puts
    assert [e["message"] for e in put["logEvents"]] == [f"line {i}" for i in range(5)]
    assert handler.sent == 5 and handler.dropped == 0
    handler.close()


def test_a_full_queue_drops_and_counts_and_never_blocks_the_caller(
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate = threading.Event()
    client = FakeLogs(block=gate)
    handler = CloudWatchLogsHandler(client, "g", "s", max_queue=3, send_interval=0.01)
    handler.emit(_record("first"))  # taken by the thread, which then waits in put_log_events
    for _ in range(50):
        if handler._queue.empty():
            break
        threading.Event().wait(0.01)
    for i in range(10):
        handler.emit(_record(f"burst {i}"))  # returns at once: 3 queued, 7 dropped
    assert handler.dropped == 7
    gate.set()
    handler.close()
    assert sum(len(p["logEvents"]) for p in client.puts) == 4
    assert capsys.readouterr().err == "freightliner: 7 log events were not shipped to g\n"


def test_the_clients_own_loggers_are_not_shipped() -> None:
    client = FakeLogs()
    handler = CloudWatchLogsHandler(client, "g", "s")
    handler.emit(logging.LogRecord("botocore.endpoint", logging.INFO, "", 1, "x", None, None))
    handler.emit(_record("kept"))
    handler.close()
    assert [e["message"] for p in client.puts for e in p["logEvents"]] == ["kept"]


@pytest.mark.parametrize("code", ["AccessDeniedException", "InvalidParameterException"])
def test_a_put_that_fails_for_good_is_counted_not_raised(code: str) -> None:
    class Refusing(FakeLogs):
        def put_log_events(self, **kwargs: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": code, "Message": "no"}}, "PutLogEvents")

    handler = CloudWatchLogsHandler(Refusing(), "g", "s")
    handler.emit(_record("lost"))
    handler.flush()
    assert handler.dropped == 1 and handler.sent == 0
    handler.close()
