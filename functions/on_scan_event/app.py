"""EventBridge "ECR Image Scan" / "Inspector2 Scan" → wake the scan gates waiting on that
image, so they check it now instead of at the end of their wait."""

from __future__ import annotations

from typing import Any

from freightliner.bootstrap.lambda_root import LambdaRoot, lambda_root
from freightliner.domain.events import ScanFinished
from freightliner.engine.gate.scan_gate import wake_waiting_gates
from freightliner.environment import ENV_SCAN_GATE_ARN, ENV_TABLE
from freightliner.handler_outcomes import Trigger, handles
from freightliner.observability import count_woken, logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@handles("scan event", Trigger.EVENT, requires=(ENV_TABLE, ENV_SCAN_GATE_ARN))
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, lambda_root())


def handle(event: dict[str, Any], root: LambdaRoot) -> dict[str, Any]:
    scan = ScanFinished.model_validate(event)
    report = wake_waiting_gates(scan.image(), root.scan_waits, root.gate_to_wake())
    count_woken(report.woken)
    logger.info("gates woken", extra=report.model_dump())
    return report.model_dump()
