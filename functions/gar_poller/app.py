"""Scheduled: pull GAR notifications from Pub/Sub (AWS-only deployments), enqueue, then ack."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from freightliner.bootstrap.lambda_root import LambdaRoot, lambda_root
from freightliner.domain.errors import FreightlinerError
from freightliner.engine.gar_poll import poll_notifications
from freightliner.lambda_support import rejection
from freightliner.observability import logger, metrics, tracer


class ScheduledEvent(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    id: str
    detail_type: str = Field(alias="detail-type")
    source: str


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, lambda_root())


def handle(event: dict[str, Any], root: LambdaRoot) -> dict[str, Any]:
    try:
        ScheduledEvent.model_validate(event)
        report = poll_notifications(root.notifications, root.accept)
    except (ValidationError, FreightlinerError) as exc:
        return rejection(exc, "scheduled poll")
    logger.info("polled", extra=report.model_dump())
    return report.model_dump()
