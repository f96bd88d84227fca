"""SQS → copies. Partial batch responses: only the failed messages come back."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from freightliner.bootstrap.lambda_root import LambdaRoot, lambda_root
from freightliner.domain.envelopes import SqsBatch
from freightliner.domain.errors import FreightlinerError, Outcome
from freightliner.domain.retry import redelivery_delay
from freightliner.domain.work import WorkItem
from freightliner.environment import ENV_QUEUE_URL, ENV_TABLE
from freightliner.handler_outcomes import Trigger, handles, mark_logged
from freightliner.lambda_support import VisibilityHeartbeat
from freightliner.observability import (
    count_compression,
    count_failure,
    count_item,
    count_outage,
    count_rejected,
    count_retry,
    log_item,
    logger,
    metrics,
    registry_host,
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
def record_handler(record: SQSRecord, lambda_context: Any = None) -> dict[str, Any]:
    return handle_record(record, lambda_root(), lambda_context)


def handle_record(record: SQSRecord, root: LambdaRoot, context: Any = None) -> dict[str, Any]:
    """An item whose registry's circuit breaker is open, and a retryable failure, go back to
    the queue as a new delayed message carrying the attempt count (the worker's
    `resending`); this message is then acknowledged, so its receive count never walks the
    item into the DLQ. With the Lambda `context`, a copy nearing the deadline hands off to a
    new message the same way. Other failures raise: the message comes back (configuration
    errors, or a queue that refuses the re-send, after a growing visibility timeout; an
    unreadable body until maxReceiveCount sends it to the DLQ). Permanent copy failures do
    not raise: the worker records them FAILED; an item its job does not imply is recorded as
    rejected and never run. The worker logs each outcome; a retry of this same message is
    logged here, where its delay is known."""
    from freightliner.engine.copying.resumable import Deadline, ResumePolicy  # noqa: PLC0415
    from freightliner.engine.jobs.item_log import log_retry  # noqa: PLC0415
    from freightliner.engine.jobs.worker import process_item  # noqa: PLC0415 - loads httpx: first use

    item = WorkItem.model_validate_json(root.payloads.unpack(record.body))
    margin = root.settings.handoff_margin
    deadline = Deadline.of(context, margin) if context is not None else None
    resume = ResumePolicy(root.uploads, root.settings.resumable_upload_bytes, deadline)
    log_item(item)
    delivery = int(record.attributes.approximate_receive_count)
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
                resending=root.resending,
                resume=resume,
                metadata=root.metadata,
                delivery=delivery,
                metadata_ttl=root.settings.metadata_ttl,
            )
    except FreightlinerError as exc:
        if not exc.outcome.acknowledged:
            delay = redelivery_delay(delivery, exc)
            try:
                root.extend_visibility(record.receipt_handle, delay)
            except Exception:  # the queue itself is failing: the message's timeout stands
                logger.warning("could not set the retry delay", exc_info=True)
            if exc.outcome is Outcome.RETRY:  # configuration errors: the handler's ERROR line
                log_retry(item, exc, item.attempt + delivery, delay)
                mark_logged(exc)
        raise
    if outcome.outcome == "failed":
        count_failure(str((outcome.error or {}).get("error", "error")))
    elif outcome.outcome == "rejected":
        count_rejected("WorkItems")
    if outcome.reason != "duplicate":  # a duplicate delivery was counted when the item ended
        count_item(
            item,
            outcome.outcome,
            bytes_copied=outcome.bytes,
            seconds=outcome.seconds,
            lag=outcome.lag_seconds,
        )
    if outcome.outcome == "retried":
        count_retry(str((outcome.error or {}).get("error", "error")))
    count_outage(
        outcome.waiting_on if outcome.outcome == "deferred" else None, outcome.breaker_opened
    )
    if outcome.outcome == "done":
        count_compression(
            registry_host(item.destination),
            outcome.compress_bytes_before,
            outcome.compress_bytes_after,
            outcome.compress_seconds,
            outcome.compress_fallback,
        )
    return outcome.model_dump()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
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
