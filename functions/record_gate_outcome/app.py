"""Scan-gate task: record the gate's outcome on its item through the job store (let through,
or held BLOCKED / FAILED and counted on its job), closing and announcing the job when the
item was its last. Errors raise: the state machine retries the retryable kinds."""

from __future__ import annotations

from typing import Any

from freightliner.bootstrap.lambda_root import LambdaRoot, lambda_root
from freightliner.handler_outcomes import Trigger, handles
from freightliner.lambda_support import task_input
from freightliner.observability import count_item, log_item, logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@handles("record_gate_outcome input", Trigger.TASK)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, lambda_root())


def handle(event: dict[str, Any], root: LambdaRoot) -> dict[str, Any]:
    # The gate's models and decisions load on the first task, not during the cold start.
    from freightliner.engine.gate.scan_gate import (  # noqa: PLC0415
        RecordGateRequest,
        record_gate_outcome,
        unpacked_item,
    )

    event = unpacked_item(event, root.payloads)  # packed when it is large
    request = task_input(RecordGateRequest, event, "record_gate_outcome input")
    log_item(request.item)
    result = record_gate_outcome(request, root.state, root.notifier)
    held = request.outcome.status.lower()
    if result.recorded and held in ("blocked", "failed"):  # held back: the item ends here
        count_item(request.item, held)
    logger.info("gate outcome recorded", extra={"recorded": result.recorded})
    return result.model_dump(mode="json")
