"""Scheduled: pull GAR notifications from Pub/Sub (AWS-only deployments), enqueue, then ack."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from freightliner.bootstrap.lambda_root import LambdaRoot, lambda_root
from freightliner.environment import ENV_GAR_SUBSCRIPTION, ENV_QUEUE_URL, ENV_RULES, ENV_TABLE
from freightliner.handler_outcomes import Trigger, handles
from freightliner.observability import count_event, count_retry, logger, metrics, tracer


class ScheduledEvent(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    id: str
    detail_type: str = Field(alias="detail-type")
    source: str


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@handles(
    "scheduled poll",
    Trigger.EVENT,
    requires=(ENV_TABLE, ENV_QUEUE_URL, ENV_RULES, ENV_GAR_SUBSCRIPTION),
)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, lambda_root())


def handle(event: dict[str, Any], context: Any, root: LambdaRoot) -> dict[str, Any]:
    """`context` (the Lambda context) lets an intake record left in progress by an invocation
    that died expire when that invocation would have ended."""
    from freightliner.domain.events import ImageEvent  # noqa: PLC0415
    from freightliner.engine.events.gar_poll import poll_notifications  # noqa: PLC0415
    from freightliner.engine.events.intake import IntakeResult  # noqa: PLC0415

    ScheduledEvent.model_validate(event)

    def accept(image: ImageEvent, correlation_id: str) -> IntakeResult:
        return root.accept(image, correlation_id, context)

    report = poll_notifications(root.notifications, accept)
    if report.retried:  # released unacknowledged: Pub/Sub delivers them to the next run
        count_retry("gar_poll", report.retried)
    for outcome, count in report.outcomes().items():
        count_event("gar", outcome, count)
    logger.info("polled", extra=report.model_dump())
    return report.model_dump()
