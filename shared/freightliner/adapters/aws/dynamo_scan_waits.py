"""The ScanWaits port in the state table: one record per parked gate wait, under its image
(layout in table_schema). Records expire with the table's TTL a little after their wait ends;
until the TTL sweeper gets to them, expired ones are ignored. Tokens never reach a log line.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import own_resource_error
from freightliner.domain.errors import Where

KEEP_AFTER_WAIT = 60  # seconds a record outlives its wait


def _partition(image: str) -> str:
    return f"SCANWAIT#{image}"


def _sort_key(token: str) -> str:
    return "TOKEN#" + hashlib.sha256(token.encode()).hexdigest()[:32]


class DynamoScanWaits:
    def __init__(self, table: Any, clock: Callable[[], float] = time.time) -> None:
        self._table = table  # a boto3 DynamoDB Table resource, built by the composition root
        self._clock = clock

    def _where(self, operation: str, image: str) -> Where:
        return Where(registry=f"dynamodb:{self._table.name}", repository=image, operation=operation)

    def park(self, image: str, token: str, seconds: int) -> None:
        item = {
            "PK": _partition(image),
            "SK": _sort_key(token),
            "token": token,
            "expires_at": int(self._clock() + seconds + KEEP_AFTER_WAIT),
        }
        try:
            self._table.put_item(Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise own_resource_error(exc, self._where("dynamodb:PutItem", image)) from None

    def parked(self, image: str) -> list[str]:
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("PK").eq(_partition(image))}
        now = self._clock()
        tokens: list[str] = []
        while True:
            try:
                page = self._table.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise own_resource_error(exc, self._where("dynamodb:Query", image)) from None
            tokens += [i["token"] for i in page.get("Items", []) if i["expires_at"] > now]
            if "LastEvaluatedKey" not in page:
                return tokens
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def forget(self, image: str, tokens: Sequence[str]) -> None:
        try:
            with self._table.batch_writer() as batch:
                for token in tokens:
                    batch.delete_item(Key={"PK": _partition(image), "SK": _sort_key(token)})
        except (ClientError, BotoCoreError) as exc:
            raise own_resource_error(exc, self._where("dynamodb:BatchWriteItem", image)) from None
