"""Running Lambda handlers locally the way the service does: a context object, and an SQS
poller that hands batches to the handler and deletes only what it reports as done
(partial batch responses), leaving failed messages to their visibility timeout."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LocalContext:
    function_name: str = "freightliner-local"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:freightliner-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


def _record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3] if queue_arn.count(":") >= 3 else "us-east-1",
    }


def poll_once(
    sqs: Any, queue_url: str, handler: Handler, wait_seconds: int = 0, batch_size: int = 10
) -> int:
    """Deliver one batch (up to `batch_size` messages, at most 10); returns how many were
    delivered."""
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    received = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=batch_size,
        WaitTimeSeconds=wait_seconds,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    if not received:
        return 0
    event = {"Records": [_record(m, queue_arn) for m in received]}
    try:
        response = handler(event, LocalContext()) or {}
    except Exception:  # the whole batch failed: every message returns after its timeout
        return len(received)
    failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
    done = [m for m in received if m["MessageId"] not in failed]
    if done:
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)
            ],
        )
    return len(received)


def drain(sqs: Any, queue_url: str, handler: Handler, max_batches: int = 100) -> int:
    """Poll until the queue answers empty; returns messages delivered."""
    delivered = 0
    for _ in range(max_batches):
        count = poll_once(sqs, queue_url, handler)
        if count == 0:
            return delivered
        delivered += count
    return delivered
