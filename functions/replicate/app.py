"""SQS → copies. Partial batch responses: only the failed messages come back."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from freightliner.bootstrap.lambda_root import LambdaRoot, lambda_root
from freightliner.domain.envelopes import SqsBatch
from freightliner.domain.errors import FreightlinerError
from freightliner.domain.work import WorkItem
from freightliner.environment import ENV_QUEUE_URL, ENV_TABLE
from freightliner.handler_outcomes import Trigger, handles
from freightliner.lambda_support import VisibilityHeartbeat, retry_delay
from freightliner.observability import (
    count_compression,
    count_copy,
    count_failure,
    count_rejected,
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


@handles("work item", Trigger.TASK, requires=(ENV_TABLE, ENV_QUEUE_URL))
def record_handler(record: SQSRecord) -> dict[str, Any]:
    return handle_record(record, lambda_root())


def handle_record(record: SQSRecord, root: LambdaRoot) -> dict[str, Any]:
    """Every failure raises: the message comes back (retryable and configuration errors after
    a growing visibility timeout; an unreadable body until maxReceiveCount sends it to the
    DLQ). Permanent copy failures do not raise: the worker records them FAILED; an item its
    job does not imply is recorded as rejected and never run."""
    from freightliner.engine.jobs.worker import process_item  # noqa: PLC0415 - loads httpx: first use

    item = WorkItem.model_validate_json(root.payloads.unpack(record.body))
    log_item(item)
    try:
        with VisibilityHeartbeat(root.extend_visibility, record.receipt_handle):
            outcome = process_item(
                item,
                root.registry_clients,
                root.state,
                root.settings.jobs,
                rules=lambda: root.rules,
                rejections=root.rejections,
                queue=root.queue,
                notifier=root.notifier,
            )
    except FreightlinerError as exc:
        if not exc.outcome.acknowledged:
            delay = retry_delay(int(record.attributes.approximate_receive_count))
            try:
                root.extend_visibility(record.receipt_handle, delay)
            except Exception:  # the queue itself is failing: the message's timeout stands
                logger.warning("could not set the retry delay", exc_info=True)
        raise
    if outcome.outcome == "failed":
        count_failure(str((outcome.error or {}).get("error", "error")))
    elif outcome.outcome == "rejected":
        count_rejected("WorkItems")
    elif outcome.outcome == "done":
        count_copy(outcome.bytes, outcome.seconds)
        count_compression(
            outcome.compress_bytes_before,
            outcome.compress_bytes_after,
            outcome.compress_seconds,
            outcome.compress_fallback,
        )
    logger.info(outcome.outcome, extra={"destination": item.destination, "bytes": outcome.bytes})
    return outcome.model_dump()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import process_partial_response  # noqa: PLC0415

    batch = SqsBatch.from_event(event)
    if batch.malformed:  # dropped, not retried: SQS never sends such records
        logger.error("malformed SQS records dropped", extra={"count": batch.malformed})
        count_rejected("SqsRecords", batch.malformed)
    if not batch.records:  # the batch processor refuses an empty batch
        return {"batchItemFailures": []}
    return process_partial_response(
        event=batch.as_event(),
        record_handler=record_handler,
        processor=batch_processor(),
        context=context,
    )
