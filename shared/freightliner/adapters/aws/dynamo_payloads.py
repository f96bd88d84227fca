"""Oversized work payloads kept in the state table, in parts under one key.

Why the state table and not an S3 bucket: every function that sends or reads work items
already reads and writes this table, so no new resource, permission or client exists for a
case that stays rare (a payload over 256 KB even compressed). Parts are binary attributes
of at most `PART_BYTES`, under `PAYLOAD#<sha256>`; identical payloads share their parts.
They expire with the TTL after `KEEP_SECONDS` (beyond SQS's 14-day retention and the 30 days
an item row that refers to them is kept), so nothing needs to delete them.
"""

from __future__ import annotations

import time
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import own_resource_error
from freightliner.adapters.aws.table_schema import TTL_ATTRIBUTE
from freightliner.domain.digest import Digest
from freightliner.domain.errors import NotFound, Where

PART_BYTES = 350_000  # under DynamoDB's 400 KB item limit with the keys beside it
KEEP_SECONDS = 31 * 24 * 3600


def _key(digest: Digest) -> str:
    return f"PAYLOAD#{digest.hex}"


class DynamoPayloads:
    """The PayloadStore port on the state table."""

    def __init__(self, table: Any, clock: Any = time.time) -> None:
        self._table = table
        self._clock = clock

    def put(self, digest: Digest, data: bytes) -> int:
        expires = int(self._clock()) + KEEP_SECONDS
        parts = [data[at : at + PART_BYTES] for at in range(0, len(data), PART_BYTES)]
        try:
            with self._table.batch_writer() as batch:
                for number, part in enumerate(parts):
                    batch.put_item(
                        Item={
                            "PK": _key(digest),
                            "SK": f"PART#{number:04d}",
                            "data": part,
                            TTL_ATTRIBUTE: expires,
                        }
                    )
        except (ClientError, BotoCoreError) as exc:
            raise own_resource_error(exc, Where(operation="dynamodb:put payload")) from None
        return len(parts)

    def get(self, digest: Digest, parts: int) -> bytes:
        where = Where(operation="dynamodb:get payload", reference=digest.short)
        found: list[bytes] = []
        query: dict[str, Any] = {
            "KeyConditionExpression": Key("PK").eq(_key(digest)),
            "ConsistentRead": True,
        }
        try:
            while True:
                page = self._table.query(**query)
                found += [bytes(item["data"]) for item in page.get("Items", [])]
                if "LastEvaluatedKey" not in page or len(found) >= parts:
                    break
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise own_resource_error(exc, where) from None
        if len(found) != parts:
            raise NotFound(f"stored payload has {len(found)} of its {parts} parts", where)
        return b"".join(found)
