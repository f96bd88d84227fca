"""The Cloud Logging filter (escaped values, the window, the function's field names) and
LogEntry parsing on the shapes entries:list returns."""

from __future__ import annotations

import pytest

from freightliner.adapters.gcp.cloud_logging import (
    parse_entry,
    parse_timestamp,
    string_literal,
    trace_filter,
)
from freightliner.domain.errors import InvalidInput
from freightliner.domain.trace import LogCriteria


def test_the_filter_bounds_the_window_and_ors_the_identifiers() -> None:
    criteria = LogCriteria(correlation_ids=["123"], job_ids=["evt-1"], digests=["0123ab"])
    assert trace_filter(criteria, 1_764_000_000, 1_764_000_060.5) == (
        'timestamp>="2025-11-24T16:00:00.000000Z" AND timestamp<="2025-11-24T16:01:00.500000Z" '
        'AND (jsonPayload.correlation_id="123" OR jsonPayload.job_id="evt-1" '
        'OR jsonPayload.digest=~"^0123ab")'
    )


def test_quotes_and_backslashes_stay_inside_their_literal() -> None:
    assert string_literal('a"b\\c') == '"a\\"b\\\\c"'
    with pytest.raises(InvalidInput):
        string_literal("x\ny")


def test_a_json_entry_keeps_its_fields_severity_and_function() -> None:
    entry = {
        "insertId": "abc",
        "jsonPayload": {"message": "enqueued", "correlation_id": "123", "job_id": "evt-1"},
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": "on-gar-push"}},
        "timestamp": "2026-11-25T17:54:34.123456789Z",
        "severity": "INFO",
        "logName": "projects/p/logs/run.googleapis.com%2Fstdout",
    }
    record = parse_entry(entry)
    assert record is not None
    assert record.at == pytest.approx(parse_timestamp("2026-11-25T17:54:34Z") + 0.123456789)
    assert record.origin == "on-gar-push"
    assert record.level == "INFO" and record.text("job_id") == "evt-1"


def test_a_text_entry_and_an_entry_without_time() -> None:
    record = parse_entry({"textPayload": "boom", "timestamp": "2026-11-25T17:54:34+02:00"})
    assert record is not None and record.fields == {"message": "boom"}
    assert record.at == parse_timestamp("2026-11-25T15:54:34Z")
    assert parse_entry({"textPayload": "no time"}) is None
