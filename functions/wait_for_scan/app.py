"""Scan-gate task (callback): park the gate's task token under its image, so that a
scan-finished event can end the wait early; the state machine's timeout ends it otherwise."""

from __future__ import annotations

from typing import Any

from freightliner.bootstrap.lambda_root import LambdaRoot, lambda_root
from freightliner.environment import ENV_TABLE
from freightliner.handler_outcomes import Trigger, handles
from freightliner.lambda_support import task_input
from freightliner.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@handles("wait_for_scan input", Trigger.TASK, requires=(ENV_TABLE,))
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, lambda_root())


def handle(event: dict[str, Any], root: LambdaRoot) -> dict[str, Any]:
    # The gate's models and decisions load on the first task, not during the cold start.
    from freightliner.engine.gate.scan_gate import ParkRequest, park_wait  # noqa: PLC0415

    request = task_input(ParkRequest, event, "wait_for_scan input")
    park_wait(request, root.scan_waits)
    logger.info("parked", extra={"image": request.image, "seconds": request.seconds})
    return {"parked": request.image}
