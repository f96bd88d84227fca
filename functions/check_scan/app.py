"""Scan-gate task: where the held image's vulnerability scan stands, and what comes next
(wait, evaluate, or the rule's on_scan_error). Errors raise: the state machine retries the
retryable kinds and records the rest on the item."""

from __future__ import annotations

from typing import Any

from freightliner.bootstrap.lambda_root import LambdaRoot, lambda_root
from freightliner.handler_outcomes import Trigger, handles
from freightliner.lambda_support import task_input
from freightliner.observability import log_item, logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@handles("check_scan input", Trigger.TASK)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, lambda_root())


def handle(event: dict[str, Any], root: LambdaRoot) -> dict[str, Any]:
    # The gate's models and decisions load on the first task, not during the cold start.
    from freightliner.engine.gate.scan_gate import (  # noqa: PLC0415
        CheckScanRequest,
        check_scan,
        unpacked_item,
    )

    event = unpacked_item(event, root.payloads)  # packed when it is large
    request = task_input(CheckScanRequest, event, "check_scan input")
    log_item(request.item)
    result = check_scan(request, root.registry_clients)
    logger.info("scan checked", extra=result.model_dump())
    return result.model_dump(mode="json")
