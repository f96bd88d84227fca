"""SQS → copies. Partial batch responses: only the failed messages come back."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from freightliner.bootstrap import pipeline
from freightliner.domain.errors import FreightlinerError
from freightliner.domain.work import WorkItem
from freightliner.handler_outcomes import Trigger, handles
from freightliner.lambda_support import VisibilityHeartbeat, retry_delay
from freightliner.observability import (
    count_copy,
    count_failure,
    log_item,
    logger,
    metrics,
    tracer,
)
from freightliner.settings import ENV_QUEUE_URL, ENV_TABLE

# Report every failed message even when all of them failed: each keeps the visibility backoff
# its record handler set, instead of the whole batch bouncing at once.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@handles("work item", Trigger.TASK, requires=(ENV_TABLE, ENV_QUEUE_URL))
def record_handler(record: SQSRecord) -> dict[str, Any]:
    # Every failure raises: the message comes back (retryable and configuration errors after
    # a growing visibility timeout; an unreadable body until maxReceiveCount sends it to the
    # DLQ). Permanent copy failures do not raise: the worker records them FAILED.
    item = WorkItem.model_validate_json(record.body)
    log_item(item)
    work = pipeline()
    try:
        with VisibilityHeartbeat(work.extend_visibility, record.receipt_handle):
            outcome = work.process(item)
    except FreightlinerError as exc:
        if not exc.outcome.acknowledged:
            delay = retry_delay(int(record.attributes.approximate_receive_count))
            try:
                work.extend_visibility(record.receipt_handle, delay)
            except Exception:  # the queue itself is failing: the message's timeout stands
                logger.warning("could not set the retry delay", exc_info=True)
        raise
    if outcome.outcome == "failed":
        count_failure(str((outcome.error or {}).get("error", "error")))
    elif outcome.outcome == "done":
        count_copy(outcome.bytes, outcome.seconds)
    logger.info(outcome.outcome, extra={"destination": item.destination, "bytes": outcome.bytes})
    return outcome.model_dump()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(
        event=event,
        record_handler=record_handler,
        processor=processor,
        context=context,
    )
