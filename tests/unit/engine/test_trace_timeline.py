"""The trace timeline: what the target names in the state table, the identifiers the log
search gets, and the one ordered timeline both make (a step both know, once)."""

from __future__ import annotations

from freightliner.domain.errors import Forbidden
from freightliner.domain.jobs import JobRecord
from freightliner.domain.trace import (
    LogCriteria,
    LogRecord,
    LogSearchResult,
    TraceKind,
    TraceTarget,
)
from freightliner.domain.work import ItemStatus
from freightliner.engine.trace.timeline import SLACK, Unsearched, classify, trace
from freightliner.ports.work import ItemRecord

DIGEST = "sha256:" + "0123456789ab" + "c" * 52
SOURCE = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/app@{DIGEST}"
DEST = "us-docker.pkg.dev/proj/mirror/app:1.2"
T0 = 1_764_000_000.0


class Index:
    def __init__(self, jobs: list[JobRecord], items: list[ItemRecord]) -> None:
        self.jobs = {j.job_id: j for j in jobs}
        self.items = items

    def get_job(self, job_id: str) -> JobRecord | None:
        return self.jobs.get(job_id)

    def list_items(self, job_id: str) -> list[ItemRecord]:
        return [i for i in self.items if i.job_id == job_id]

    def jobs_by_correlation(self, correlation_id: str) -> list[JobRecord]:
        return [j for j in self.jobs.values() if j.correlation_id == correlation_id]

    def items_by_digest(self, prefix: str) -> list[ItemRecord]:
        return [i for i in self.items if i.source_digest.startswith(prefix)]


class Search:
    source = "cloudwatch"

    def __init__(self, records: list[LogRecord], **result: object) -> None:
        self.records = records
        self.result = result
        self.asked: list[tuple[LogCriteria, float, float]] = []

    def search(self, criteria: LogCriteria, start: float, end: float) -> LogSearchResult:
        self.asked.append((criteria, start, end))
        return LogSearchResult(source=self.source, records=self.records, **self.result)  # type: ignore[arg-type]


def failed_event() -> Index:
    job = JobRecord(
        job_id="evt-1",
        created_at=T0,
        finished_at=T0 + 40,
        status="COMPLETED_WITH_ERRORS",
        total=1,
        failed=1,
        correlation_id="e-1",
        detail={"event_id": "e-1", "action": "push", "source": SOURCE},
    )
    item = ItemRecord(
        job_id="evt-1",
        item_id="i-1",
        status=ItemStatus.FAILED,
        source=SOURCE,
        destination=DEST,
        source_digest=DIGEST,
        attempts=2,
        last_error="HTTP 403",
        error_kind="forbidden",
        created_at=T0,
        started_at=T0 + 30,
        finished_at=T0 + 32.5,
        correlation_id="e-1",
    )
    return Index([job], [item])


def line(at: float, **fields: object) -> LogRecord:
    return LogRecord(at=at, origin="/aws/lambda/replicate", fields=fields)


def test_a_digest_trace_joins_the_state_table_and_the_log_lines_in_order() -> None:
    logs = Search(
        [
            line(T0 + 0.1, level="INFO", message="enqueued", job_id="evt-1"),
            line(
                T0 + 5,
                level="WARNING",
                message="will be retried",
                item_id="i-1",
                error_kind="unavailable",
                error="HTTP 503",
                attempt=1,
                retry_in=25,
            ),
            line(T0 + 32.5, level="ERROR", message="failed", item_id="i-1", error_kind="forbidden"),
        ]
    )
    timeline = trace(
        TraceTarget.parse("0123456789ab"), failed_event(), [logs], now=T0 + 3600, since=86400
    )
    assert timeline.kind is TraceKind.DIGEST and timeline.jobs == ["evt-1"]
    assert [(e.stage, e.source) for e in timeline.events] == [
        ("received", "state"),
        ("planned", "state"),
        ("retry", "cloudwatch"),  # attempt 1 and its error, from the logs
        ("attempt", "state"),  # the last attempt, from the table
        ("failed", "state"),  # the ERROR line tells the same: kept once
        ("failed", "state"),  # the job's end
    ]
    retry = timeline.events[2]
    assert (retry.attempt, retry.error_kind, retry.error) == (1, "unavailable", "HTTP 503")
    assert retry.summary == "attempt 1: will be retried: HTTP 503 (retry in 25 s)"
    assert "app@sha256:0123456789ab… (event e-1)" in timeline.events[0].summary
    assert timeline.events[4].seconds == 2.5 and timeline.events[5].seconds == 40
    criteria, start, end = logs.asked[0]
    assert criteria == LogCriteria(
        correlation_ids=["e-1"], job_ids=["evt-1"], digests=["0123456789ab"]
    )
    assert (start, end) == (T0 - SLACK, T0 + 40 + SLACK)


def test_a_bare_word_is_a_job_then_a_correlation_id_then_a_digest_prefix() -> None:
    index = failed_event()
    assert trace(TraceTarget.parse("evt-1"), index, [], now=T0, since=60).kind is TraceKind.JOB
    by_event = trace(TraceTarget.parse("e-1"), index, [], now=T0, since=60)
    assert by_event.kind is TraceKind.CORRELATION and by_event.jobs == ["evt-1"]
    unknown = trace(TraceTarget.parse("abcdef99"), index, [], now=T0, since=60)
    assert unknown.kind is TraceKind.CORRELATION and unknown.jobs == []
    assert "knows nothing" in unknown.notes[0]


def test_an_unknown_target_searches_the_logs_over_the_last_since_seconds() -> None:
    logs = Search([line(T0 - 10, level="INFO", message="enqueued", job_id="evt-9")])
    timeline = trace(TraceTarget.parse("msg-77"), Index([], []), [logs], now=T0, since=600)
    assert logs.asked[0][1:] == (T0 - 600, T0)
    assert logs.asked[0][0].correlation_ids == ["msg-77"]
    assert [e.stage for e in timeline.events] == ["received"]


def test_an_image_trace_keeps_only_the_images_repository() -> None:
    index = failed_event()
    other = TraceTarget.parse(f"123456789012.dkr.ecr.us-east-1.amazonaws.com/other@{DIGEST}")
    timeline = trace(other, index, [], now=T0, since=60)
    assert timeline.jobs == [] and "none from or to" in timeline.notes[0]
    mine = TraceTarget.parse(SOURCE)
    assert trace(mine, index, [], now=T0, since=60).jobs == ["evt-1"]


def test_a_partial_or_missing_search_makes_the_timeline_partial_and_ctrl_c_skips_the_rest() -> None:
    stopped = Search([], complete=False, interrupted=True, notes=["interrupted"])
    later = Search([])
    timeline = trace(
        TraceTarget.parse("evt-1"),
        failed_event(),
        [stopped, later, Unsearched("cloud-logging", "not searched: no project")],
        now=T0,
        since=60,
    )
    assert timeline.interrupted and not timeline.complete
    assert later.asked == []
    assert "cloudwatch: interrupted" in timeline.notes


def test_log_lines_are_read_by_their_fields() -> None:
    def stage(**fields: object) -> str:
        return classify(LogRecord(at=0, origin="", fields=fields))

    assert stage(level="ERROR", error_kind="forbidden", message="x") == "failed"
    assert stage(level="WARNING", retry_in=30, message="x") == "retry"
    assert stage(severity="WARNING", error_kind="timeout", message="x") == "retry"
    assert stage(level="INFO", message="no-match") == "received"
    assert stage(level="INFO", message="done", destination=DEST) == "done"
    assert stage(level="INFO", message="verdict", allowed=True) == "gate"
    assert stage(level="ERROR", message="malformed SQS records dropped") == "log"


def test_a_job_with_more_images_than_read_says_how_many_are_shown() -> None:
    index = failed_event()
    index.jobs["evt-1"] = index.jobs["evt-1"].model_copy(update={"total": 5000})
    timeline = trace(TraceTarget.parse("evt-1"), index, [], now=T0, since=60)
    assert "job evt-1: 1 of its 5000 images shown" in timeline.notes


class Denied:
    source = "cloud-logging"

    def search(self, criteria: LogCriteria, start: float, end: float) -> LogSearchResult:
        raise Forbidden("HTTP 403 (the caller needs roles/logging.viewer)")


def test_a_search_that_fails_leaves_the_rest_of_the_timeline_and_says_why() -> None:
    timeline = trace(TraceTarget.parse("evt-1"), failed_event(), [Denied()], now=T0, since=60)
    assert not timeline.complete and len(timeline.events) == 5
    assert timeline.notes == [
        "cloud-logging: not searched: forbidden: HTTP 403 (the caller needs roles/logging.viewer)"
    ]
