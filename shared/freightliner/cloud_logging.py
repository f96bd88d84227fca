"""The Cloud Function's logging, in Cloud Logging's terms.

Its JSON lines (the shared Powertools logger, redacted, with `severity` beside `level`)
would otherwise carry the previous request's keys on a warm instance: every invocation
starts from the service's keys only, plus the request's trace as
`logging.googleapis.com/trace` (from `traceparent` or `X-Cloud-Trace-Context`), so Cloud
Logging groups a request's lines under its trace. Metrics have no EMF reader on GCP: each
value the invocation recorded (the same names and dimensions as on AWS) becomes one JSON line
with a stable `metric` key, which a log-based metric counts (counter: the lines;
distribution: `jsonPayload.value`).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from freightliner.environment import ENV_GOOGLE_CLOUD_PROJECT
from freightliner.observability import Measure, logger, metrics, write_metrics_with

TRACE_KEY = "logging.googleapis.com/trace"
SPAN_KEY = "logging.googleapis.com/spanId"
SAMPLED_KEY = "logging.googleapis.com/trace_sampled"
METRIC_MESSAGE = "metric"
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{1,32})(?:/([0-9]{1,20}))?(?:;o=([01]))?$")
P = ParamSpec("P")
R = TypeVar("R")


def trace_fields(headers: Mapping[str, str], project: str | None) -> dict[str, Any]:
    """Cloud Logging's trace fields for a request's `traceparent` (W3C) or
    `X-Cloud-Trace-Context` header; none without a project or a well-formed header."""
    if not project:
        return {}
    headers = {name.lower(): value for name, value in headers.items()}
    parent = _TRACEPARENT.match((headers.get("traceparent") or "").strip())
    if parent:
        trace, span, flags = parent.groups()
        return {
            TRACE_KEY: f"projects/{project}/traces/{trace}",
            SPAN_KEY: span,
            SAMPLED_KEY: bool(int(flags, 16) & 1),
        }
    cloud = _CLOUD_TRACE.match((headers.get("x-cloud-trace-context") or "").strip())
    if cloud:
        trace, span, sampled = cloud.groups()
        fields: dict[str, Any] = {TRACE_KEY: f"projects/{project}/traces/{trace.lower()}"}
        if span:
            fields[SPAN_KEY] = f"{int(span):016x}"  # decimal in this header, hex in the entry
        if sampled:
            fields[SAMPLED_KEY] = sampled == "1"
        return fields
    return {}


def request_headers(event: Any = None) -> Mapping[str, str]:
    """The current request's headers (functions-framework runs every function inside a
    Flask request), else a CloudEvent's `traceparent` extension."""
    import flask  # noqa: PLC0415 - the Cloud Function's runtime only

    if flask.has_request_context():
        return dict(flask.request.headers.items())
    traceparent = getattr(event, "get", lambda _key: None)("traceparent")
    return {"traceparent": traceparent} if isinstance(traceparent, str) else {}


def begin_invocation(headers: Mapping[str, str]) -> None:
    """Forget the previous invocation's keys; name this one's trace; metrics the engine
    emits as they happen become metric lines too."""
    logger.structure_logs(**trace_fields(headers, os.environ.get(ENV_GOOGLE_CLOUD_PROJECT)))
    write_metrics_with(metric_lines)


def metric_lines(dimensions: Mapping[str, str], measures: Sequence[Measure]) -> None:
    """One JSON line per measure, with its dimensions: what `emit` writes here."""
    for name, unit, value in measures:
        logger.info(
            METRIC_MESSAGE,
            extra={"metric": name.value, "value": value, "unit": unit.value, **dimensions},
        )


def emit_metrics() -> int:
    """The metrics recorded since the last call, one JSON line per value; returns how
    many lines."""
    dimensions = dict(metrics.dimension_set)
    lines = 0
    for name, recorded in metrics.metric_set.items():
        for value in recorded["Value"]:
            logger.info(
                METRIC_MESSAGE,
                extra={"metric": name, "value": value, "unit": recorded["Unit"], **dimensions},
            )
            lines += 1
    metrics.clear_metrics()
    return lines


def cloud_invocation(entry: Callable[P, R]) -> Callable[P, R]:
    """Wrap a Cloud Function entry point: fresh log keys and the trace before it runs, its
    metrics as log lines (as they happen, and the rest after, whether it returned or
    raised)."""

    @functools.wraps(entry)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        begin_invocation(request_headers(args[0] if args else None))
        try:
            return entry(*args, **kwargs)
        finally:
            emit_metrics()
            write_metrics_with(None)

    return run
