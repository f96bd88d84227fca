"""Powertools Logger, Metrics and Tracer shared by every handler.

Logs are JSON with a correlation id that follows the work from the event through the queue to
the copy; digests appear as 12-character prefixes; credentials never appear (they are
`Redacted` (a pydantic Secret) end to end and no log line formats one).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from freightliner.domain.work import WorkItem

SERVICE = "freightliner"
NAMESPACE = "Freightliner"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


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
    """One `Failures` total (alarmed on) and one per error kind (for the dashboard)."""
    metrics.add_metric(name="Failures", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=f"Failures_{kind}", unit=MetricUnit.Count, value=1)


def count_copy(bytes_copied: int, seconds: float) -> None:
    metrics.add_metric(name="ImagesCopied", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="BytesCopied", unit=MetricUnit.Bytes, value=bytes_copied)
    metrics.add_metric(name="CopySeconds", unit=MetricUnit.Seconds, value=seconds)


def count_event(outcome: str) -> None:
    """Events by what became of them: enqueued, duplicate, no-match."""
    metrics.add_metric(name=f"Events_{outcome.replace('-', '_')}", unit=MetricUnit.Count, value=1)


def count_job_end(status: str, seconds: float | None) -> None:
    """Jobs by how they ended (COMPLETE, COMPLETED_WITH_ERRORS) and how long they took."""
    metrics.add_metric(name=f"Jobs_{status}", unit=MetricUnit.Count, value=1)
    if seconds is not None:
        metrics.add_metric(name="JobSeconds", unit=MetricUnit.Seconds, value=seconds)


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
