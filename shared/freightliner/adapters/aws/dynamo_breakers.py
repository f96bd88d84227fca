"""The Breakers port in the state table: `BREAKER#<host>` / `BREAKER`, listed through the
by-status index (`GSI1PK = BREAKERS`). Every write is one conditional UpdateItem, so a fleet
of workers opens, probes and closes a host's breaker once. Records expire with the table's
TTL a day after their last write: a host that has been fine that long needs no record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import error_code, own_resource_error
from freightliner.adapters.aws.table_schema import STATUS_INDEX
from freightliner.domain.breaker import BreakerRecord
from freightliner.domain.errors import Where

KEEP_SECONDS = 24 * 3600
BREAKERS_INDEX_KEY = "BREAKERS"


def _key(host: str) -> dict[str, str]:
    return {"PK": f"BREAKER#{host}", "SK": "BREAKER"}


def _number(value: float) -> Decimal:
    return Decimal(str(round(value, 3)))


def _record(host: str, attributes: dict[str, Any] | None) -> BreakerRecord:
    found = attributes or {}
    return BreakerRecord(
        host=host,
        failures=int(found.get("failures", 0)),
        open_until=float(found.get("open_until", 0)),
        probe_until=float(found.get("probe_until", 0)),
        opened_at=float(found.get("opened_at", 0)),
    )


class DynamoBreakers:
    def __init__(self, table: Any, clock: Callable[[], float] = time.time) -> None:
        self._table = table  # a boto3 DynamoDB Table resource, built by the composition root
        self._clock = clock

    def _update(
        self, host: str, operation: str, expression: str, values: dict[str, Any], **extra: Any
    ) -> dict[str, Any] | None:
        """One UpdateItem on the host's record (keeping it listed and expiring); None when
        its condition failed."""
        values = {**values, ":index": BREAKERS_INDEX_KEY, ":host": host}
        values[":expires"] = int(self._clock() + KEEP_SECONDS)
        try:
            answer = self._table.update_item(
                Key=_key(host),
                UpdateExpression=f"{expression}, GSI1PK = :index, GSI1SK = :host, "
                "expires_at = :expires",
                ExpressionAttributeValues=values,
                **extra,
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise self._error(exc, operation, host) from None
        except BotoCoreError as exc:
            raise self._error(exc, operation, host) from None
        attributes: dict[str, Any] = answer.get("Attributes", {})
        return attributes

    def _error(self, exc: Exception, operation: str, host: str) -> Exception:
        where = Where(registry=f"dynamodb:{self._table.name}", repository=host, operation=operation)
        return own_resource_error(exc, where)

    def get(self, host: str) -> BreakerRecord:
        try:
            found = self._table.get_item(Key=_key(host)).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "dynamodb:GetItem breaker", host) from None
        return _record(host, found)

    def count_failure(self, host: str) -> BreakerRecord:
        attributes = self._update(
            host,
            "dynamodb:UpdateItem count failure",
            "ADD failures :one SET open_until = if_not_exists(open_until, :zero)",
            {":one": 1, ":zero": 0},
            ReturnValues="ALL_NEW",
        )
        return _record(host, attributes)

    def open(self, host: str, until: float, seen_open_until: float) -> bool:
        # Reopened after a failed probe, it keeps the time the outage began.
        began = ", opened_at = :now" if not seen_open_until else ""
        opened = self._update(
            host,
            "dynamodb:UpdateItem open breaker",
            f"SET open_until = :until, probe_until = :zero{began}",
            {
                ":until": _number(until),
                ":zero": 0,
                ":seen": _number(seen_open_until),
                **({":now": _number(self._clock())} if began else {}),
            },
            ConditionExpression="attribute_not_exists(open_until) OR open_until = :seen",
            ReturnValues="UPDATED_NEW",
        )
        return opened is not None

    def take_probe(self, host: str, now: float, lease_until: float) -> bool:
        taken = self._update(
            host,
            "dynamodb:UpdateItem take probe",
            "SET probe_until = :lease",
            {":lease": _number(lease_until), ":now": _number(now), ":zero": 0},
            ConditionExpression="open_until > :zero AND open_until <= :now "
            "AND (attribute_not_exists(probe_until) OR probe_until <= :now)",
            ReturnValues="UPDATED_NEW",
        )
        return taken is not None

    def close(self, host: str) -> bool:
        before = self._update(
            host,
            "dynamodb:UpdateItem close breaker",
            "SET failures = :zero, open_until = :zero, probe_until = :zero",
            {":zero": 0},
            ReturnValues="ALL_OLD",
        )
        return bool(before and before.get("open_until"))

    def open_breakers(self) -> list[BreakerRecord]:
        kwargs: dict[str, Any] = {
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": Key("GSI1PK").eq(BREAKERS_INDEX_KEY),
        }
        found: list[BreakerRecord] = []
        while True:
            try:
                page = self._table.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise self._error(exc, "dynamodb:Query breakers", "") from None
            for item in page.get("Items", []):
                record = _record(str(item["GSI1SK"]), item)
                if record.open_until:
                    found.append(record)
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
