"""Powertools Logger, Metrics and Tracer shared by every handler.

Logs are JSON with a correlation id that follows the work from the event through the queue to
the copy; digests appear as 12-character prefixes; credentials never appear (they are
`Redacted` (a pydantic Secret) end to end and no log line formats one, and every record is
redacted once more as it is formatted: `freightliner.log_redaction`). Each line carries
`severity` beside `level`, the field Cloud Logging filters by, so the Cloud Function's lines
are filterable too.

Metrics are few names (`MetricName`) with dimensions saying which kind, outcome, status or
destination registry they count. EMF gives one blob one dimension set (plus roll-ups), so each
group of metrics sharing dimensions is its own blob, written when it happens; every blob also
rolls up to `service` alone (or a coarser set), the series alarms and fleet percentiles read.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

from freightliner.domain.jobs import IMAGE_COUNTER, JobMetric, JobRecord, JobSummary
from freightliner.domain.work import WorkItem
from freightliner.environment import ENV_METRICS_NAMESPACE, ENV_SERVICE_NAME
from freightliner.log_redaction import redact_value

DEFAULT_SERVICE = "freightliner"
DEFAULT_NAMESPACE = "Freightliner"
SERVICE = os.environ.get(ENV_SERVICE_NAME) or DEFAULT_SERVICE
H = TypeVar("H", bound=Callable[..., Any])


class LazyTracer:
    """Powertools' Tracer, built when the first traced invocation starts: building it loads
    and configures aws_xray_sdk (a quarter of a second), which a handler module's import (the
    cold start) should not pay."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tracer: Tracer | None = None

    def _get(self) -> Tracer:
        with self._lock:
            if self._tracer is None:
                # AWS calls (botocore) traced by the SDK; registry requests by the registry
                # client's request observer (bootstrap.request_tracing), not by the SDK's httpx
                # patch, which would end a subsegment at the headers and send trace headers
                # to third-party registries.
                self._tracer = Tracer(service=SERVICE, patch_modules=("botocore",))
            return self._tracer

    def recorder(self) -> Any:
        """The X-Ray recorder behind the Tracer (a no-op one where tracing is disabled)."""
        return self._get().provider

    def capture_lambda_handler(self, handler: H) -> H:
        """`Tracer.capture_lambda_handler`, applied on the first call."""
        traced: list[Callable[..., Any]] = []

        @functools.wraps(handler)
        def run(event: Any, context: Any) -> Any:
            if not traced:
                traced.append(self._get().capture_lambda_handler(handler))
            return traced[0](event, context)

        return run  # type: ignore[return-value]


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines, redacted as a whole (message, extra and appended keys, the
    exception text) and with `severity` (Cloud Logging's level field) beside `level`."""

    def serialize(self, log: LogRecord) -> str:
        record: dict[str, Any] = redact_value(dict(log))
        if "level" in record:
            record["severity"] = record["level"]
        return super().serialize(record)


logger = Logger(service=SERVICE, logger_formatter=RedactingFormatter())
metrics = Metrics(
    namespace=os.environ.get(ENV_METRICS_NAMESPACE) or DEFAULT_NAMESPACE, service=SERVICE
)
tracer = LazyTracer()


def short(digest: str | None) -> str:
    """`sha256:abcdef…` → `abcdef012345`: enough to find an image, short enough to read."""
    if not digest:
        return ""
    return digest.split(":", 1)[-1][:12]


def log_item(item: WorkItem) -> None:
    """Every following log line names the item, its digest and the event it came from."""
    logger.append_keys(
        correlation_id=item.trace_id, item_id=item.item_id, digest=short(item.source_digest)
    )


class MetricName(StrEnum):
    """Every metric the functions emit; the template's dashboard and alarms name only these."""

    ITEMS = "Items"  # finished work items: kind, outcome, destination
    BYTES = "Bytes"  # bytes copied: destination
    COPY_SECONDS = "CopySeconds"  # how long a copy took: destination
    REPLICATION_LAG = "ReplicationLag"  # the event's push time to the copy's end: destination
    FAILURES = "Failures"  # permanent failures and configuration errors: error_kind
    RETRIES = "Retries"  # failures that will be tried again: error_kind
    EVENTS = "Events"  # registry events by what became of them: source, outcome
    JOBS = "Jobs"  # ended jobs: kind, status
    JOB_SECONDS = "JobSeconds"  # how long ended jobs ran: kind, status
    JOBS_STARTED = "JobsStarted"  # tree syncs started: kind
    GATE_VERDICTS = "GateVerdicts"  # scan-gate verdicts on completed scans: verdict
    GATES_WOKEN = "ScanGatesWoken"  # scan-gate waits a scan-finished event ended early
    REJECTED = "Rejected"  # input refused before any work: what
    COLD_START = "ColdStart"  # Powertools' (capture_cold_start_metric): function_name
    BREAKER_OPEN = "BreakerOpen"  # a registry host's circuit breaker opened (the breaker's)
    ITEMS_DEFERRED = "ItemsDeferred"  # items waiting on an open breaker (the breaker's)
    COMPRESS_SECONDS = "CompressSeconds"  # zstd transcoding of one image: destination
    COMPRESS_BYTES_BEFORE = "CompressBytesBefore"  # its layers' bytes before: destination
    COMPRESS_BYTES_AFTER = "CompressBytesAfter"  # and after: destination
    COMPRESS_RATIO = "CompressRatio"  # after over before, percent: destination
    COMPRESS_FALLBACKS = "CompressFallbacks"  # the destination refused zstd: destination


def service() -> str:
    """POWERTOOLS_SERVICE_NAME, as the template sets it."""
    return os.environ.get(ENV_SERVICE_NAME) or DEFAULT_SERVICE


def namespace() -> str:
    """POWERTOOLS_METRICS_NAMESPACE, as the template sets it."""
    return os.environ.get(ENV_METRICS_NAMESPACE) or DEFAULT_NAMESPACE


Measure = tuple[MetricName, MetricUnit, float]


MetricWriter = Callable[[Mapping[str, str], Sequence[Measure]], None]
_writers: list[MetricWriter] = []


def write_metrics_with(writer: MetricWriter | None) -> None:
    """Where `emit` writes instead of CloudWatch EMF: the Cloud Function's structured lines
    (`freightliner.cloud_logging`), which a log-based metric counts; None: EMF again."""
    _writers[:] = [writer] if writer is not None else []


def emit(
    dimensions: Mapping[str, str], measures: Sequence[Measure], rollup: Sequence[str] | None = ()
) -> None:
    """One EMF blob: `measures` under `dimensions` (and `service`), rolled up to `service`
    plus the `rollup` dimensions (None: no roll-up). Written now (stdout, which Lambda ships
    to CloudWatch Logs), not at the end of the invocation."""
    if _writers:
        _writers[0](dimensions, measures)
        return
    blob = AmazonCloudWatchEMFProvider(namespace=namespace(), service=service())
    for name, unit, value in measures:
        blob.add_metric(name=name.value, unit=unit, value=value)
    for key, label in dimensions.items():
        blob.add_dimension(name=key, value=label or "unknown")
    if rollup is not None and dimensions:
        kept = {key: dimensions[key] or "unknown" for key in rollup}
        blob.add_dimensions(service=service(), **kept)
    blob.flush_metrics()


# How a work item ends, in metrics as in the table and the logs (domain.jobs.IMAGE_COUNTER),
# plus `rejected`: an item its job does not imply.
ITEM_ENDS = frozenset({*IMAGE_COUNTER.values(), "rejected"})


def registry_host(reference: str) -> str:
    """The registry host of a full reference (`host/repository:tag`), for a dimension."""
    return reference.split("/", 1)[0]


def count_failure(kind: str) -> None:
    """Failures that need a person: permanent ones (rejected input, FAILED items) and
    configuration errors, by error kind (and in total: the alarm's series)."""
    emit({"error_kind": kind}, [(MetricName.FAILURES, MetricUnit.Count, 1)])


def count_retry(kind: str, count: int = 1) -> None:
    """Failures that will be tried again (throttling, unavailable, timeouts), apart from
    `Failures` so a burst of 429s does not page anyone."""
    emit({"error_kind": kind}, [(MetricName.RETRIES, MetricUnit.Count, count)])


def count_item(
    item: WorkItem,
    outcome: str,
    *,
    bytes_copied: int = 0,
    seconds: float = 0.0,
    lag: float | None = None,
) -> None:
    """A work item's end (done, skipped, failed, blocked, rejected) by kind and destination
    registry; a done copy also adds its bytes, duration and replication lag. A rejected item's
    destination is whatever its sender wrote: it is not a dimension (each new value would be
    a new metric, billed), `unverified` stands for all of them."""
    if outcome not in ITEM_ENDS:  # a duplicate delivery, or an item that comes back later
        return
    destination = registry_host(item.destination) if outcome != "rejected" else "unverified"
    emit(
        {"kind": item.action, "outcome": outcome, "destination": destination},
        [(MetricName.ITEMS, MetricUnit.Count, 1)],
        rollup=("kind", "outcome"),
    )
    if item.action == "copy" and outcome == "done":
        count_copy(destination, bytes_copied, seconds, lag)


def count_copy(destination: str, bytes_copied: int, seconds: float, lag: float | None) -> None:
    """What one copy to `destination` (a registry host) moved and took."""
    measures: list[Measure] = [
        (MetricName.BYTES, MetricUnit.Bytes, bytes_copied),
        (MetricName.COPY_SECONDS, MetricUnit.Seconds, seconds),
    ]
    if lag is not None:
        measures.append((MetricName.REPLICATION_LAG, MetricUnit.Seconds, lag))
    emit({"destination": destination}, measures)


def count_event(source: str, outcome: str, count: int = 1) -> None:
    """Registry events (`ecr`, `gar`) by what became of them: enqueued, duplicate, no-match,
    ignored, rejected, retried."""
    if count:
        emit(
            {"source": source, "outcome": outcome},
            [(MetricName.EVENTS, MetricUnit.Count, count)],
            rollup=None,
        )


def count_tree_started() -> None:
    emit({"kind": "tree"}, [(MetricName.JOBS_STARTED, MetricUnit.Count, 1)], rollup=None)


def count_compression(
    destination: str, before: int, after: int, seconds: float, fallback: bool
) -> None:
    """zstd transcoding of one image to `destination` (a registry host): its eligible layers'
    bytes before and after, the ratio (after over before, in percent), the time it took, and
    whether the destination refused zstd (the original layers landed instead)."""
    if not before:
        return
    measures: list[Measure] = [(MetricName.COMPRESS_SECONDS, MetricUnit.Seconds, seconds)]
    if fallback:  # the original layers landed: nothing was saved
        measures.append((MetricName.COMPRESS_FALLBACKS, MetricUnit.Count, 1))
    else:
        measures += [
            (MetricName.COMPRESS_BYTES_BEFORE, MetricUnit.Bytes, before),
            (MetricName.COMPRESS_BYTES_AFTER, MetricUnit.Bytes, after),
            (MetricName.COMPRESS_RATIO, MetricUnit.Percent, 100 * after / before),
        ]
    emit({"destination": destination}, measures)


class JobEndMetrics:
    """A JobNotifier: jobs by how they ended and how long they took, by kind and status, as
    the domain's JobSummary states them, whichever function closed the job."""

    def job_finished(self, job: JobRecord) -> None:
        found = sorted(JobSummary.of(job).metrics(), key=_dimensions_of)
        for dimensions, group in itertools.groupby(found, key=_dimensions_of):
            emit(
                dict(dimensions),
                [(MetricName(m.name), MetricUnit(m.unit), m.value) for m in group],
            )


def _dimensions_of(metric: JobMetric) -> list[tuple[str, str]]:
    return sorted(metric.dimensions.items())


def count_verdict(allowed: bool) -> None:
    """Scan-gate verdicts on completed scans: images their findings let through or blocked."""
    verdict = "passed" if allowed else "blocked"
    emit({"verdict": verdict}, [(MetricName.GATE_VERDICTS, MetricUnit.Count, 1)], rollup=None)


def count_woken(gates: int) -> None:
    """Scan-gate waits a scan-finished event ended early."""
    emit({}, [(MetricName.GATES_WOKEN, MetricUnit.Count, gates)])


def count_rejected(what: str, count: int = 1) -> None:
    """Input refused before any work: forged or unauthorized work items, malformed records."""
    emit({"what": what}, [(MetricName.REJECTED, MetricUnit.Count, count)])


def count_outage(waiting_on: str | None, breaker_opened: str | None) -> None:
    """Outage mode: an item waiting on a registry's open circuit breaker (ItemsDeferred), a
    breaker this item's failure opened (BreakerOpen), each by that registry host."""
    if waiting_on:
        emit({"registry": waiting_on}, [(MetricName.ITEMS_DEFERRED, MetricUnit.Count, 1)])
    if breaker_opened:
        emit({"registry": breaker_opened}, [(MetricName.BREAKER_OPEN, MetricUnit.Count, 1)])
