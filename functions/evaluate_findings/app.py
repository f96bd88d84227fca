"""Scan-gate task: the rule's policy applied to every finding of the held image's completed
scan. Errors raise: the state machine retries the retryable kinds and records the rest."""

from __future__ import annotations

from typing import Any

from freightliner.bootstrap.lambda_root import LambdaRoot, lambda_root
from freightliner.handler_outcomes import Trigger, handles
from freightliner.lambda_support import task_input
from freightliner.observability import count_verdict, log_item, logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@handles("evaluate_findings input", Trigger.TASK)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, lambda_root())


def handle(event: dict[str, Any], root: LambdaRoot) -> dict[str, Any]:
    # The gate's models and decisions load on the first task, not during the cold start.
    from freightliner.engine.gate.scan_gate import (  # noqa: PLC0415
        ScanTask,
        evaluate_scan,
        unpacked_item,
    )

    event = unpacked_item(event, root.payloads)  # packed when it is large
    request = task_input(ScanTask, event, "evaluate_findings input")
    log_item(request.item)
    verdict = evaluate_scan(request, root.registry_clients)
    count_verdict(verdict.allowed)
    logger.info("verdict", extra={"allowed": verdict.allowed, "reason": verdict.reason})
    return verdict.model_dump(mode="json")
