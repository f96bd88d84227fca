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
from freightliner.domain.envelopes import SqsBatch
from freightliner.domain.errors import RetryableError
from freightliner.domain.work import WorkItem
from freightliner.lambda_support import VisibilityHeartbeat, retry_delay
from freightliner.observability import (
    count_copy,
    count_failure,
    count_job_end,
    count_rejected,
    log_item,
    logger,
    metrics,
    tracer,
)

# Report every failed message even when all of them failed: each keeps the visibility backoff
# its record handler set, instead of the whole batch bouncing at once.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> dict[str, Any]:
    # An unreadable body raises: the message returns until maxReceiveCount sends it to the DLQ.
    item = WorkItem.model_validate_json(record.body)
    log_item(item)
    work = pipeline()
    try:
        with VisibilityHeartbeat(work.extend_visibility, record.receipt_handle):
            outcome = work.process(item)
    except RetryableError as exc:
        count_failure(exc.kind)
        delay = retry_delay(int(record.attributes.approximate_receive_count))
        work.extend_visibility(record.receipt_handle, delay)
        logger.warning("will retry", extra={"error": str(exc), "retry_in": delay})
        raise
    if outcome.outcome == "failed":
        count_failure(str((outcome.error or {}).get("error", "error")))
    elif outcome.outcome == "rejected":
        count_rejected("WorkItems")
    elif outcome.outcome == "done":
        count_copy(outcome.bytes, outcome.seconds)
    logger.info(outcome.outcome, extra={"destination": item.destination, "bytes": outcome.bytes})
    if outcome.job_closed is not None:
        count_job_end(outcome.job_closed.status, outcome.job_closed.seconds)
    return outcome.model_dump()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    batch = SqsBatch.from_event(event)
    if batch.malformed:  # dropped, not retried: SQS never sends such records
        logger.error("malformed SQS records dropped", extra={"count": batch.malformed})
        count_rejected("SqsRecords", batch.malformed)
    if not batch.records:  # the batch processor refuses an empty batch
        return {"batchItemFailures": []}
    return process_partial_response(
        event=batch.as_event(),
        record_handler=record_handler,
        processor=processor,
        context=context,
    )
