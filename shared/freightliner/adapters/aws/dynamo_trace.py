"""The state table's by-trace index as the TraceIndex port: an event's jobs by correlation id,
items by source digest (or a prefix of one). Jobs and their items are read as DynamoStateStore
reads them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.dynamo_state import DynamoStateStore
from freightliner.adapters.aws.errors import own_resource_error
from freightliner.adapters.aws.table_schema import TRACE_INDEX, correlation_key, digest_key
from freightliner.domain.errors import Where
from freightliner.domain.jobs import JobRecord
from freightliner.ports.work import ItemRecord


class DynamoTraceIndex:
    def __init__(self, table: Any, limit: int = 500) -> None:
        self._table = table  # a boto3 DynamoDB Table resource, built by the composition root
        self._store = DynamoStateStore(table)
        self._limit = limit  # rows read per lookup: a digest copied to thousands of places

    def get_job(self, job_id: str) -> JobRecord | None:
        return self._store.get_job(job_id)

    def list_items(self, job_id: str) -> list[ItemRecord]:
        """The job's first items (a tree job has thousands: the trace shows a sample)."""
        condition = Key("PK").eq(f"JOB#{job_id}") & Key("SK").begins_with("ITEM#")
        return [ItemRecord.model_validate(row) for row in self._query(condition, index=None)]

    def jobs_by_correlation(self, correlation_id: str) -> list[JobRecord]:
        found = self._query(Key("GSI2PK").eq(correlation_key(correlation_id)))
        return [JobRecord.model_validate(row) for row in found]

    def items_by_digest(self, prefix: str) -> list[ItemRecord]:
        condition = Key("GSI2PK").eq(digest_key(prefix)) & Key("GSI2SK").begins_with(prefix)
        return [ItemRecord.model_validate(row) for row in self._query(condition)]

    def _query(self, condition: Any, index: str | None = TRACE_INDEX) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"KeyConditionExpression": condition}
        if index is not None:
            kwargs["IndexName"] = index
        read = 0
        while read < self._limit:
            try:
                page = self._table.query(**kwargs, Limit=self._limit - read)
            except (ClientError, BotoCoreError) as exc:
                where = Where(registry=f"dynamodb:{self._table.name}", operation="dynamodb:Query")
                raise own_resource_error(exc, where) from None
            rows = page.get("Items", [])
            read += len(rows)
            yield from rows
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
