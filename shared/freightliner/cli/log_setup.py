"""The CLI's logging: text or JSON lines on stderr (`--log-format`), each carrying the run's
correlation id, redacted like every log line of the project (`freightliner.log_redaction`),
and, where `FREIGHTLINER_LOG_GROUP` names a CloudWatch log group (a sync run from CI, cron or
a VM), the same JSON lines shipped to one stream per run, flushed at exit and on SIGTERM.
Where `FREIGHTLINER_AUDIT_LOG_GROUP` names the stack's audit log group, the run's audit events
(secret writes, copies) are shipped there too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import uuid
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from freightliner.environment import ENV_AUDIT_LOG_GROUP, ENV_LOG_GROUP
from freightliner.log_redaction import redact, redact_value

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


AUDIT_LOGGER = "freightliner.audit"  # freightliner.engine.audit's, named here: no engine import
_INSTALLED: list[tuple[logging.Logger, logging.Handler]] = []


def add_logging_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines on stderr as text or JSON, each with the run's correlation id "
        f"(and shipped to ${ENV_LOG_GROUP} when set)",
    )


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What the caller passed as `extra=`: the structured keys of a line."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonLineFormatter(logging.Formatter):
    """One JSON object a line: time, level (and `severity`), logger, message, the run's
    correlation id, the extra keys, the exception; redacted."""

    def __init__(self, correlation_id: str) -> None:
        super().__init__()
        self.correlation_id = correlation_id

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "severity": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": self.correlation_id,
            **extra_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(redact_value(line), default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value …`, redacted; the correlation id once per line
    only where asked (`-v`), the extra keys always."""

    def __init__(self, correlation_id: str) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.correlation_id = correlation_id

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = redact_value(extra_fields(record))
        if fields:
            text += " " + " ".join(
                f"{key}={json.dumps(value, default=str)}" for key, value in fields.items()
            )
        return redact(f"{text} correlation_id={self.correlation_id}")


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record comes (as `logging.lastResort`
    does), so a caller that swaps stderr (a test, an embedding program) never leaves this
    handler writing to a closed stream."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _cloudwatch_handler(group: str, correlation_id: str) -> logging.Handler:
    import boto3  # noqa: PLC0415 - only when shipping

    from freightliner.adapters.aws.cloudwatch_logs import CloudWatchLogsHandler  # noqa: PLC0415

    stream = f"freightliner-cli/{datetime.now(UTC):%Y/%m/%d}/{correlation_id}"
    handler = CloudWatchLogsHandler(boto3.client("logs"), group, stream)
    handler.setFormatter(JsonLineFormatter(correlation_id))
    handler.setLevel(logging.INFO)
    return handler


def _flush_on_sigterm() -> None:
    """SIGTERM ends the run as an exit does (143), so `logging.shutdown` flushes the
    shipped stream; the default action would lose what is queued."""

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    with contextlib.suppress(ValueError):  # not the main thread (an in-process caller)
        signal.signal(signal.SIGTERM, terminate)


def configure_logging(log_format: str, verbose: bool) -> str:
    """Set up the root logger for one run; returns the run's correlation id."""
    correlation_id = uuid.uuid4().hex
    console = StderrHandler()
    console.setFormatter(
        JsonLineFormatter(correlation_id) if log_format == "json" else TextFormatter(correlation_id)
    )
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    root = logging.getLogger()
    handlers: list[tuple[logging.Logger, logging.Handler]] = [(root, console)]
    group = os.environ.get(ENV_LOG_GROUP)
    if group:
        handlers.append((root, _cloudwatch_handler(group, correlation_id)))
    audit_group = os.environ.get(ENV_AUDIT_LOG_GROUP)
    if audit_group:
        audit = logging.getLogger(AUDIT_LOGGER)
        audit.setLevel(logging.INFO)
        handlers.append((audit, _cloudwatch_handler(audit_group, correlation_id)))
    if group or audit_group:
        _flush_on_sigterm()
    end_logging()  # an earlier run in this process that did not end it
    _INSTALLED[:] = handlers
    for owner, handler in handlers:
        owner.addHandler(handler)
    root.setLevel(logging.INFO if (verbose or group) else logging.WARNING)
    return correlation_id


def end_logging() -> None:
    """Flush and remove this run's handlers (the shipped streams send what is queued)."""
    for owner, handler in _INSTALLED:
        owner.removeHandler(handler)
        handler.close()
    _INSTALLED.clear()
