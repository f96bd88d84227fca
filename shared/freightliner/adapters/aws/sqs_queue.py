"""The WorkQueue port on SQS: SendMessageBatch in tens, failed entries retried, never dropped."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import own_resource_error
from freightliner.domain.errors import Unavailable, Where
from freightliner.domain.work import WorkItem

BATCH = 10
ATTEMPTS = 4
MAX_DELAY_SECONDS = 900  # SQS's limit on DelaySeconds


class SqsWorkQueue:
    def __init__(self, client: Any, queue_url: str, sleep: Any = time.sleep) -> None:
        self._client = client
        self._url = queue_url
        self._sleep = sleep

    def requeue(self, item: WorkItem, *, delay_seconds: int) -> None:
        """One new message for the item, delayed (at most SQS's 15 minutes)."""
        where = Where(registry="sqs", operation="sqs:SendMessage")
        try:
            self._client.send_message(
                QueueUrl=self._url,
                MessageBody=item.model_dump_json(),
                DelaySeconds=max(0, min(MAX_DELAY_SECONDS, delay_seconds)),
                MessageAttributes={
                    "correlation_id": {"DataType": "String", "StringValue": item.trace_id}
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise own_resource_error(exc, where) from None

    def send(self, items: Sequence[WorkItem]) -> None:
        where = Where(registry="sqs", operation="sqs:SendMessageBatch")
        for start in range(0, len(items), BATCH):
            pending = {str(n): item for n, item in enumerate(items[start : start + BATCH])}
            for attempt in range(ATTEMPTS):
                entries = [
                    {
                        "Id": key,
                        "MessageBody": item.model_dump_json(),
                        "MessageAttributes": {
                            "correlation_id": {
                                "DataType": "String",
                                "StringValue": item.trace_id,
                            }
                        },
                    }
                    for key, item in pending.items()
                ]
                try:
                    response = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
                except (ClientError, BotoCoreError) as exc:
                    raise own_resource_error(exc, where) from None
                failed = {f["Id"] for f in response.get("Failed", [])}
                pending = {key: item for key, item in pending.items() if key in failed}
                if not pending:
                    break
                self._sleep(0.2 * 2**attempt)
            if pending:
                raise Unavailable(f"{len(pending)} work items could not be enqueued", where)
