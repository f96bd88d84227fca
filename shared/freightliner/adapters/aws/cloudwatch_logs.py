"""A logging handler that ships records to a CloudWatch Logs stream without ever blocking
the code that logs: records go to a bounded queue (a full queue drops the record and counts
it) and a background thread sends them with PutLogEvents, within every limit of that call:

- a batch holds at most 10,000 events and 1,048,576 bytes, counting each event's UTF-8
  message plus 26 bytes;
- an event is at most 256 KiB with its 26 bytes: a longer message is split into several;
- events are sent in chronological order, and one batch spans at most 24 hours;
- throttling and unavailability are retried with backoff; what still fails is counted
  as dropped, never raised into the logging code.

`flush` sends what is queued (at exit, and on SIGTERM through the CLI's setup); `close`
flushes and stops the thread. watchtower, the usual library, keeps an unbounded queue per
stream (memory grows while CloudWatch is unreachable) and does not split batches at 24 h, so
the project keeps this small handler instead.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

MAX_BATCH_BYTES = 1_048_576
MAX_BATCH_EVENTS = 10_000
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 262_144  # the message's bytes plus EVENT_OVERHEAD
MAX_MESSAGE_BYTES = MAX_EVENT_BYTES - EVENT_OVERHEAD
MAX_SPAN_MS = 24 * 3600 * 1000
RETRYABLE = frozenset(
    {"ThrottlingException", "ServiceUnavailableException", "RequestLimitExceeded", "Throttling"}
)
# Records of the AWS client itself would feed back into the stream that sends them.
_OWN_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


@dataclass(frozen=True, slots=True)
class LogEvent:
    timestamp: int  # milliseconds since the epoch
    message: str

    @property
    def size(self) -> int:
        return len(self.message.encode("utf-8")) + EVENT_OVERHEAD


class TimedMessage(Protocol):
    """A log event as any source holds it (a subscription's event, a LogEvent)."""

    @property
    def timestamp(self) -> int: ...

    @property
    def message(self) -> str: ...


def split_event(event: LogEvent, limit: int = MAX_MESSAGE_BYTES) -> list[LogEvent]:
    """The event as events whose UTF-8 messages fit `limit` bytes, cut at character
    boundaries, in order, with the same timestamp."""
    data = event.message.encode("utf-8")
    if len(data) <= limit:
        return [event]
    parts: list[LogEvent] = []
    start = 0
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # inside a UTF-8 sequence
            end -= 1
        parts.append(LogEvent(event.timestamp, data[start:end].decode("utf-8")))
        start = end
    return parts


def batches(events: Iterable[LogEvent]) -> Iterator[list[LogEvent]]:
    """The events, split where needed, in chronological order, in PutLogEvents batches."""
    ordered = sorted(
        (part for event in events for part in split_event(event)), key=lambda e: e.timestamp
    )
    batch: list[LogEvent] = []
    size = 0
    for event in ordered:
        if batch and (
            len(batch) >= MAX_BATCH_EVENTS
            or size + event.size > MAX_BATCH_BYTES
            or event.timestamp - batch[0].timestamp >= MAX_SPAN_MS
        ):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += event.size
    if batch:
        yield batch


class _Flush:
    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class CloudWatchLogsHandler(logging.Handler):
    """Ships formatted records to `group`/`stream` (created when missing) from a daemon
    thread. `client` is a boto3 `logs` client (or anything with its calls)."""

    def __init__(
        self,
        client: Any,
        group: str,
        stream: str,
        *,
        max_queue: int = 10_000,
        send_interval: float = 5.0,
        max_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.writer = LogStreamWriter(client, group, stream, max_attempts=max_attempts, sleep=sleep)
        self._queue: queue.Queue[object] = queue.Queue(max_queue)
        self._interval = send_interval
        self._lock = threading.Lock()
        self.dropped = 0
        self.sent = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="cloudwatch-logs", daemon=True)
        self._thread.start()

    # -- the logging side: never blocks -----------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_OWN_LOGGERS) or self._closed:
            return
        try:
            event = LogEvent(int(record.created * 1000), self.format(record))
        except Exception:
            self.handleError(record)
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._count_dropped(1)

    def flush(self, timeout: float = 10.0) -> None:
        """Send everything queued so far; waits at most `timeout` seconds."""
        if self._closed or not self._thread.is_alive():
            return
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return
        marker.done.wait(timeout)

    def close(self) -> None:
        if not self._closed:
            self.flush()
            self._closed = True
            with contextlib.suppress(queue.Full):
                self._queue.put(_STOP, timeout=5.0)
            self._thread.join(5.0)
            if self.dropped:  # said once, where a person running the process sees it
                sys.stderr.write(
                    f"freightliner: {self.dropped} log events were not shipped to "
                    f"{self.writer.group}\n"
                )
        super().close()

    def _count_dropped(self, count: int) -> None:
        with self._lock:
            self.dropped += count

    # -- the sending side ---------------------------------------------------------------

    def _run(self) -> None:
        pending: list[LogEvent] = []
        pending_bytes = 0
        deadline = time.monotonic() + self._interval
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                item = None
            if isinstance(item, LogEvent):
                pending.append(item)
                pending_bytes += item.size
                if pending_bytes < MAX_BATCH_BYTES and len(pending) < MAX_BATCH_EVENTS:
                    continue
            if pending:
                self._send(pending)
                pending, pending_bytes = [], 0
            deadline = time.monotonic() + self._interval
            if isinstance(item, _Flush):
                item.done.set()
            elif item is _STOP:
                return

    def _send(self, events: list[LogEvent]) -> None:
        for batch in batches(events):
            try:
                rejected = self.writer.put(batch)
            except Exception:  # a log shipper must not take the process down
                self._count_dropped(len(batch))
                continue
            self.sent += len(batch) - rejected
            if rejected:
                self._count_dropped(rejected)


class LogStreamWriter:
    """PutLogEvents into one stream (group and stream created when missing), throttling and
    unavailability retried with backoff; what still fails raises."""

    def __init__(
        self,
        client: Any,
        group: str,
        stream: str,
        *,
        max_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self.group = group
        self.stream = stream
        self._attempts = max_attempts
        self._sleep = sleep
        self._stream_ready = False

    def write(self, events: Iterable[TimedMessage]) -> int:
        """Every event, in as many batches as the limits need; returns how many were
        sent and accepted."""
        accepted = 0
        for batch in batches(LogEvent(e.timestamp, e.message) for e in events):
            accepted += len(batch) - self.put(batch)
        return accepted

    def put(self, batch: list[LogEvent]) -> int:
        """One batch (within the limits); returns how many events CloudWatch refused
        (older than 14 days or the retention, more than 2 h ahead)."""
        self._ensure_stream()
        request = {
            "logGroupName": self.group,
            "logStreamName": self.stream,
            "logEvents": [{"timestamp": e.timestamp, "message": e.message} for e in batch],
        }
        for attempt in range(1, self._attempts + 1):
            try:
                reply = self._client.put_log_events(**request)
            except Exception as exc:
                code = _error_code(exc)
                if code == "ResourceNotFoundException" and attempt == 1:
                    self._stream_ready = False
                    self._ensure_stream()
                    continue
                if code not in RETRYABLE or attempt == self._attempts:
                    raise
                self._sleep(min(5.0, 0.2 * 2 ** (attempt - 1)))
                continue
            return _rejected(reply.get("rejectedLogEventsInfo") or {}, len(batch))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _ensure_stream(self) -> None:
        if self._stream_ready:
            return
        for call, kwargs in (
            (self._client.create_log_group, {"logGroupName": self.group}),
            (
                self._client.create_log_stream,
                {"logGroupName": self.group, "logStreamName": self.stream},
            ),
        ):
            try:
                call(**kwargs)
            except Exception as exc:
                if _error_code(exc) not in (
                    "ResourceAlreadyExistsException",
                    "AccessDeniedException",
                ):
                    raise
        self._stream_ready = True


def _rejected(info: dict[str, int], count: int) -> int:
    rejected = 0
    if "tooOldLogEventEndIndex" in info:
        rejected += info["tooOldLogEventEndIndex"]
    if "expiredLogEventEndIndex" in info:
        rejected = max(rejected, info["expiredLogEventEndIndex"])
    if "tooNewLogEventStartIndex" in info:
        rejected += count - info["tooNewLogEventStartIndex"]
    return rejected


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
