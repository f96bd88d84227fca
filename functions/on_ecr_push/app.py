"""EventBridge "ECR Image Action" → work items on the queue (or the scan gate)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from freightliner.bootstrap.lambda_root import lambda_root
from freightliner.domain.events import EcrImageAction, ImageEvent
from freightliner.environment import ENV_QUEUE_URL, ENV_RULES, ENV_TABLE
from freightliner.handler_outcomes import Trigger, handles
from freightliner.observability import count_event, logger, metrics, short, tracer

if TYPE_CHECKING:
    from freightliner.engine.events.intake import IntakeResult

    # The intake, once per event: `(event, correlation_id, lambda_context) -> IntakeResult`.
    Accept = Callable[[ImageEvent, str, Any], IntakeResult]


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@handles("ECR event", Trigger.EVENT, requires=(ENV_TABLE, ENV_QUEUE_URL, ENV_RULES))
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, lambda_root().accept)


def handle(event: dict[str, Any], context: Any, accept: Accept) -> dict[str, Any]:
    action = EcrImageAction.model_validate(event)
    image = action.image_event()
    if image is None:
        logger.info(
            "ignored", extra={"result": action.detail.result, "action": action.detail.action_type}
        )
        return {"status": "ignored"}
    logger.append_keys(repository=image.repository, digest=short(image.digest))
    result = accept(image, action.id, context)
    count_event("ecr", result.outcome)
    logger.info(
        result.outcome, extra={"job_id": result.plan.job_id, "items": len(result.plan.items)}
    )
    return {
        "status": result.outcome,
        "job_id": result.plan.job_id,
        "items": len(result.plan.items),
        "gated": len(result.plan.gated),
    }
