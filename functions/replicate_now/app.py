"""Console invocation: `{"source": …, "destination": …}` copies one image and answers."""

from __future__ import annotations

from typing import Any

from freightliner.bootstrap.lambda_root import LambdaRoot, lambda_root
from freightliner.handler_outcomes import Trigger, handles
from freightliner.observability import (
    count_compression,
    count_copy,
    logger,
    metrics,
    registry_host,
    tracer,
)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@handles("replicate-now request", Trigger.EVENT)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, lambda_root())


def handle(event: dict[str, Any], root: LambdaRoot) -> dict[str, Any]:
    # The copy engine loads httpx: on the first request, not during the cold start.
    from freightliner.engine.copying.replicate_now import ReplicateNowRequest, replicate_now  # noqa: PLC0415

    request = ReplicateNowRequest.model_validate(event)
    report = replicate_now(request, root.registry_clients, root.settings.jobs)
    destination = registry_host(request.destination)
    count_copy(destination, report.bytes_copied, report.seconds, None)
    count_compression(
        destination,
        report.compress_bytes_before,
        report.compress_bytes_after,
        report.compress_seconds,
        report.compress_fallback,
    )
    return report.model_dump()
