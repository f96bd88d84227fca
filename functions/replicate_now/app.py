"""Console invocation: `{"source": …, "destination": …}` copies one image and answers."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from freightliner.bootstrap import pipeline
from freightliner.domain.errors import FreightlinerError
from freightliner.engine.replicate_now import ReplicateNowRequest
from freightliner.lambda_support import rejection
from freightliner.observability import count_copy, logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        request = ReplicateNowRequest.model_validate(event)
        report = pipeline().replicate_now(request)
    except (ValidationError, FreightlinerError) as exc:
        return rejection(exc, "replicate-now request")
    count_copy(report.bytes_copied, report.seconds)
    return report.model_dump()
