"""CloudWatch Logs subscription → the audit log group. The functions' audit events (lines
with `"log_type": "AUDIT"`, see `freightliner.engine.audit`) are matched in their own log
groups by a subscription filter and delivered here; this writes them, unchanged and in order,
to the audit log group (retained a year) in one stream per source log group and day.
A failed write raises: CloudWatch Logs invokes asynchronously and delivers the batch again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from freightliner.bootstrap.lambda_root import LambdaRoot, lambda_root
from freightliner.environment import ENV_AUDIT_LOG_GROUP
from freightliner.handler_outcomes import Trigger, handles
from freightliner.observability import logger


@logger.inject_lambda_context(clear_state=True)
@handles("audit log subscription", Trigger.EVENT, requires=(ENV_AUDIT_LOG_GROUP,))
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, lambda_root())


def handle(event: dict[str, Any], root: LambdaRoot) -> dict[str, Any]:
    from freightliner.domain.log_subscription import SubscriptionEvent  # noqa: PLC0415

    data = SubscriptionEvent.model_validate(event).decoded()
    if data.message_type == "CONTROL_MESSAGE" or not data.log_events:
        return {"status": "ignored", "events": 0}
    day = datetime.fromtimestamp(data.log_events[0].timestamp / 1000, UTC)
    stream = f"{day:%Y/%m/%d}/{data.log_group.strip('/').replace(':', '-').replace('*', '-')}"
    written = root.audit_stream(stream).write(data.log_events)
    logger.info("audit events written", extra={"events": written, "stream": stream})
    return {"status": "written", "events": written, "stream": stream}
