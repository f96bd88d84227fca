"""Powertools Logger, Metrics and Tracer shared by every handler.

Logs are JSON with a correlation id that follows the work from the event through the queue to
the copy; digests appear as 12-character prefixes; credentials never appear (they are
`Redacted` (a pydantic Secret) end to end and no log line formats one).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from freightliner.domain.jobs import JobRecord, JobSummary
from freightliner.domain.work import WorkItem

SERVICE = "freightliner"
NAMESPACE = "Freightliner"
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
                self._tracer = Tracer(service=SERVICE)
            return self._tracer

    def capture_lambda_handler(self, handler: H) -> H:
        """`Tracer.capture_lambda_handler`, applied on the first call."""
        traced: list[Callable[..., Any]] = []

        @functools.wraps(handler)
        def run(event: Any, context: Any) -> Any:
            if not traced:
                traced.append(self._get().capture_lambda_handler(handler))
            return traced[0](event, context)

        return run  # type: ignore[return-value]


logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
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


def count_failure(kind: str) -> None:
    """Failures that need a person: permanent ones (rejected input, FAILED items) and
    configuration errors. One `Failures` total (alarmed on) and one per error kind."""
    metrics.add_metric(name="Failures", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=f"Failures_{kind}", unit=MetricUnit.Count, value=1)


def count_retry(kind: str, count: int = 1) -> None:
    """Failures that will be tried again (throttling, unavailable, timeouts): `Retries` and
    one per kind, apart from `Failures` so a burst of 429s does not page anyone."""
    metrics.add_metric(name="Retries", unit=MetricUnit.Count, value=count)
    metrics.add_metric(name=f"Retries_{kind}", unit=MetricUnit.Count, value=count)


def count_copy(bytes_copied: int, seconds: float) -> None:
    metrics.add_metric(name="ImagesCopied", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="BytesCopied", unit=MetricUnit.Bytes, value=bytes_copied)
    metrics.add_metric(name="CopySeconds", unit=MetricUnit.Seconds, value=seconds)


def count_compression(before: int, after: int, seconds: float, fallback: bool) -> None:
    """zstd transcoding of one image: its eligible layers' bytes before and after, the
    ratio (after over before, in percent), the time it took, and whether the destination
    refused zstd (the original layers landed instead)."""
    if not before:
        return
    metrics.add_metric(name="CompressSeconds", unit=MetricUnit.Seconds, value=seconds)
    if fallback:  # the original layers landed: nothing was saved
        metrics.add_metric(name="CompressFallbacks", unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(name="CompressBytesBefore", unit=MetricUnit.Bytes, value=before)
    metrics.add_metric(name="CompressBytesAfter", unit=MetricUnit.Bytes, value=after)
    metrics.add_metric(name="CompressRatio", unit=MetricUnit.Percent, value=100 * after / before)


def count_event(outcome: str) -> None:
    """Events by what became of them: enqueued, duplicate, no-match."""
    metrics.add_metric(name=f"Events_{outcome.replace('-', '_')}", unit=MetricUnit.Count, value=1)


class JobEndMetrics:
    """A JobNotifier: jobs by how they ended (Jobs_COMPLETE, Jobs_COMPLETED_WITH_ERRORS) and
    how long they took, as the domain's JobSummary states them, whichever function closed
    the job (flushed by that handler's `metrics.log_metrics`)."""

    def job_finished(self, job: JobRecord) -> None:
        for metric in JobSummary.of(job).metrics():
            metrics.add_metric(name=metric.name, unit=MetricUnit(metric.unit), value=metric.value)


def count_verdict(allowed: bool) -> None:
    """Scan-gate verdicts on completed scans: images their findings let through or blocked."""
    name = "ScanGatePassed" if allowed else "ScanGateBlocked"
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def count_woken(gates: int) -> None:
    """Scan-gate waits a scan-finished event ended early."""
    metrics.add_metric(name="ScanGatesWoken", unit=MetricUnit.Count, value=gates)


def count_rejected(what: str, count: int = 1) -> None:
    """Input refused before any work: forged or unauthorized work items, malformed records."""
    metrics.add_metric(name=f"Rejected_{what}", unit=MetricUnit.Count, value=count)
