"""The redrive ports on AWS: an SQS queue read and written message by message, and Lambda's
asynchronous Invoke."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import aws_error
from freightliner.domain.errors import Where
from freightliner.ports.redrive import QueuedMessage

HIDDEN_SECONDS = 120  # a received message is invisible this long: one redrive reads it once


class SqsMessages:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, operation)(QueueUrl=self._url, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise aws_error(exc, Where(registry=self._url, operation=f"sqs:{operation}")) from None

    def receive(self, max_messages: int) -> list[QueuedMessage]:
        response = self._call(
            "receive_message",
            MaxNumberOfMessages=max(1, min(10, max_messages)),
            VisibilityTimeout=HIDDEN_SECONDS,
            WaitTimeSeconds=1,
            AttributeNames=["SentTimestamp"],
            MessageAttributeNames=["All"],
        )
        return [
            QueuedMessage(
                body=m["Body"],
                receipt=m["ReceiptHandle"],
                sent_at=int(m.get("Attributes", {}).get("SentTimestamp", 0)) / 1000,
                attributes={
                    k: str(v.get("StringValue", ""))
                    for k, v in m.get("MessageAttributes", {}).items()
                },
            )
            for m in response.get("Messages", [])
        ]

    def delete(self, receipt: str) -> None:
        self._call("delete_message", ReceiptHandle=receipt)

    def release(self, receipt: str) -> None:
        self._call("change_message_visibility", ReceiptHandle=receipt, VisibilityTimeout=0)

    def send(self, body: str) -> None:
        self._call("send_message", MessageBody=body)


class LambdaInvoker:
    def __init__(self, client: Any) -> None:
        self._client = client

    def invoke_async(self, function: str, payload: Any) -> None:
        try:
            self._client.invoke(
                FunctionName=function,
                InvocationType="Event",
                Payload=json.dumps(payload).encode(),
            )
        except (ClientError, BotoCoreError) as exc:
            raise aws_error(exc, Where(registry=function, operation="lambda:Invoke")) from None
