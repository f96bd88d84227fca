"""What leak tests search: every log record, with its extra fields, at the levels that show
the most (freightliner, httpx and httpcore at DEBUG, everything else at INFO)."""

from __future__ import annotations

import logging

import pytest


def watch_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    for name in ("freightliner", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.extend(repr(value) for value in vars(record).values())
    return "\n".join(parts)
