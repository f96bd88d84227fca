"""SQS → copies. Partial batch responses: only the failed messages come back."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from freightliner.bootstrap.lambda_root import LambdaRoot, lambda_root
from freightliner.domain.errors import RetryableError
from freightliner.domain.work import WorkItem
from freightliner.lambda_support import VisibilityHeartbeat, retry_delay
from freightliner.observability import (
    count_copy,
    count_failure,
    count_job_end,
    log_item,
    logger,
    metrics,
    tracer,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


@cache
def batch_processor() -> BatchProcessor:
    """Powertools' SQS batch processor, loaded on the first batch (its import loads every
    event class Powertools knows: a third of a second of cold start).

    It reports every failed message even when all of them failed: each keeps the visibility
    backoff its record handler set, instead of the whole batch bouncing at once."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType  # noqa: PLC0415

    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> dict[str, Any]:
    return handle_record(record, lambda_root())


def handle_record(record: SQSRecord, root: LambdaRoot) -> dict[str, Any]:
    from freightliner.engine.worker import process_item  # noqa: PLC0415 - loads httpx: first use

    # An unreadable body raises: the message returns until maxReceiveCount sends it to the DLQ.
    item = WorkItem.model_validate_json(record.body)
    log_item(item)
    try:
        with VisibilityHeartbeat(root.extend_visibility, record.receipt_handle):
            outcome = process_item(
                item,
                root.registry_clients,
                root.state,
                root.settings.jobs,
                queue=root.queue,
                notifier=root.notifier,
            )
    except RetryableError as exc:
        count_failure(exc.kind)
        delay = retry_delay(int(record.attributes.approximate_receive_count))
        root.extend_visibility(record.receipt_handle, delay)
        logger.warning("will retry", extra={"error": str(exc), "retry_in": delay})
        raise
    if outcome.outcome == "failed":
        count_failure(str((outcome.error or {}).get("error", "error")))
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
    from aws_lambda_powertools.utilities.batch import process_partial_response  # noqa: PLC0415

    return process_partial_response(
        event=event,
        record_handler=record_handler,
        processor=batch_processor(),
        context=context,
    )
