"""Console invocation: `{"source": …, "destination": …}` copies one image and answers."""

from __future__ import annotations

from typing import Any

from freightliner.bootstrap import pipeline
from freightliner.engine.replicate_now import ReplicateNowRequest
from freightliner.handler_outcomes import Trigger, handles
from freightliner.observability import count_copy, logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@handles("replicate-now request", Trigger.EVENT)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = ReplicateNowRequest.model_validate(event)
    report = pipeline().replicate_now(request)
    count_copy(report.bytes_copied, report.seconds)
    return report.model_dump()
