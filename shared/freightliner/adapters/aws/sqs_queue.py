"""The WorkQueue port on SQS: SendMessageBatch in tens (and under SQS's 256 KB per batch),
failed entries retried, never dropped. A work item too large for one message is compressed,
or stored by reference (`PayloadCodec`); the replicate function unpacks it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import own_resource_error
from freightliner.domain.errors import Unavailable, Where
from freightliner.domain.work import WorkItem
from freightliner.ports.payloads import PayloadCodec

BATCH = 10
ATTEMPTS = 4
MAX_DELAY_SECONDS = 900  # SQS's limit on DelaySeconds
BODY_LIMIT = 250_000
"""A message body's bytes at most: SQS takes 262,144 with the attributes (and per batch)."""


class SqsWorkQueue:
    def __init__(
        self,
        client: Any,
        queue_url: str,
        sleep: Any = time.sleep,
        payloads: PayloadCodec | None = None,
    ) -> None:
        self._client = client
        self._url = queue_url
        self._sleep = sleep
        self._payloads = payloads or PayloadCodec()

    def body(self, item: WorkItem) -> str:
        """The message body for `item`: its JSON, compressed or a reference when too large."""
        return self._payloads.pack(item.model_dump_json(), BODY_LIMIT)

    def requeue(self, item: WorkItem, *, delay_seconds: int) -> None:
        """One new message for the item, delayed (at most SQS's 15 minutes)."""
        where = Where(registry="sqs", operation="sqs:SendMessage")
        try:
            self._client.send_message(
                QueueUrl=self._url,
                MessageBody=self.body(item),
                DelaySeconds=max(0, min(MAX_DELAY_SECONDS, delay_seconds)),
                MessageAttributes={
                    "correlation_id": {"DataType": "String", "StringValue": item.trace_id}
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise own_resource_error(exc, where) from None

    def send(self, items: Sequence[WorkItem]) -> None:
        where = Where(registry="sqs", operation="sqs:SendMessageBatch")
        for batch in _batches([(item, self.body(item)) for item in items]):
            pending = {str(n): entry for n, entry in enumerate(batch)}
            for attempt in range(ATTEMPTS):
                entries = [
                    {
                        "Id": key,
                        "MessageBody": body,
                        "MessageAttributes": {
                            "correlation_id": {
                                "DataType": "String",
                                "StringValue": item.trace_id,
                            }
                        },
                    }
                    for key, (item, body) in pending.items()
                ]
                try:
                    response = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
                except (ClientError, BotoCoreError) as exc:
                    raise own_resource_error(exc, where) from None
                failed = {f["Id"] for f in response.get("Failed", [])}
                pending = {key: entry for key, entry in pending.items() if key in failed}
                if not pending:
                    break
                self._sleep(0.2 * 2**attempt)
            if pending:
                raise Unavailable(f"{len(pending)} work items could not be enqueued", where)


def _batches(entries: list[tuple[WorkItem, str]]) -> list[list[tuple[WorkItem, str]]]:
    """Entries in batches of at most ten and `BODY_LIMIT` bytes of bodies."""
    batches: list[list[tuple[WorkItem, str]]] = []
    size = 0
    for entry in entries:
        length = len(entry[1].encode())
        if not batches or len(batches[-1]) == BATCH or size + length > BODY_LIMIT:
            batches.append([])
            size = 0
        batches[-1].append(entry)
        size += length
    return batches
