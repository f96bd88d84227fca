"""The StateStore port on DynamoDB (see table_schema for the layout)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import aws_error
from freightliner.domain.errors import Where
from freightliner.domain.work import ItemStatus, WorkItem
from freightliner.ports.work import ItemRecord, JobRecord

RETENTION_SECONDS = 30 * 24 * 3600
log = logging.getLogger(__name__)
_COUNTER = {
    ItemStatus.DONE: "done",
    ItemStatus.FAILED: "failed",
    ItemStatus.SKIPPED: "skipped",
    ItemStatus.BLOCKED: "blocked",
}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoStateStore:
    def __init__(self, table: Any, clock: Any = time.time) -> None:
        self._table = table  # a boto3 DynamoDB Table resource, built by the composition root
        self._clock = clock

    def _where(self, operation: str) -> Where:
        return Where(registry=f"dynamodb:{self._table.name}", operation=operation)

    def create_job(self, job: JobRecord, items: Sequence[WorkItem]) -> bool:
        now = self._clock()
        record = job.model_dump()
        record.update(total=len(items), created_at=Decimal(str(job.created_at)))
        try:
            self._table.put_item(
                Item={
                    "PK": f"JOB#{job.job_id}",
                    "SK": "JOB",
                    "GSI1PK": f"JOBSTATUS#{job.status}",
                    "GSI1SK": f"{now:017.6f}",
                    "expires_at": int(now + RETENTION_SECONDS),
                    **record,
                },
                ConditionExpression="attribute_not_exists(PK)",
            )
            with self._table.batch_writer() as batch:
                for item in items:
                    batch.put_item(Item=self._item(item, ItemStatus.PENDING, now))
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise aws_error(exc, self._where("dynamodb:PutItem")) from None
        except BotoCoreError as exc:
            raise aws_error(exc, self._where("dynamodb:PutItem")) from None
        return True

    def mark_enqueued(self, job_id: str) -> None:
        job = self._update(
            "mark job enqueued",
            Key={"PK": f"JOB#{job_id}", "SK": "JOB"},
            UpdateExpression="SET enqueued = :yes, #s = :running, GSI1PK = :gsi",
            ConditionExpression="#s IN (:enumerating, :running)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":yes": True,
                ":running": "RUNNING",
                ":enumerating": "ENUMERATING",
                ":gsi": "JOBSTATUS#RUNNING",
            },
            ReturnValues="ALL_NEW",
        )
        if job:
            self._maybe_complete(job)  # every item may have finished while enumerating

    def add_items(self, job_id: str, items: Sequence[WorkItem], skipped: int = 0) -> None:
        """More work found while the job runs (a repository expanded into its images)."""
        now = self._clock()
        with self._table.batch_writer() as batch:
            for item in items:
                batch.put_item(Item=self._item(item, ItemStatus.PENDING, now))
        self._update(
            "count new items",
            Key={"PK": f"JOB#{job_id}", "SK": "JOB"},
            UpdateExpression="ADD #t :total, skipped :skipped",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeNames={"#t": "total"},
            ExpressionAttributeValues={":total": len(items) + skipped, ":skipped": skipped},
        )

    def _item(self, item: WorkItem, status: ItemStatus, now: float) -> dict[str, Any]:
        return {
            "PK": f"JOB#{item.job_id}",
            "SK": f"ITEM#{item.item_id}",
            "GSI1PK": f"ITEMSTATUS#{status}",
            "GSI1SK": f"{now:017.6f}",
            "expires_at": int(now + RETENTION_SECONDS),
            "job_id": item.job_id,
            "item_id": item.item_id,
            "status": str(status),
            "source": item.source,
            "destination": item.destination,
            "source_digest": item.source_digest,
            "attempts": 0,
        }

    def _update(self, operation: str, **kwargs: Any) -> dict[str, Any] | None:
        try:
            response = self._table.update_item(**kwargs)
        except ClientError as exc:
            if _conditional_failed(exc):
                return None
            raise aws_error(exc, self._where(operation)) from None
        except BotoCoreError as exc:
            raise aws_error(exc, self._where(operation)) from None
        return dict(_plain(response.get("Attributes", {})))

    def claim(self, item: WorkItem) -> ItemRecord | None:
        now = self._clock()
        attributes = self._update(
            "claim item",
            Key={"PK": f"JOB#{item.job_id}", "SK": f"ITEM#{item.item_id}"},
            UpdateExpression=(
                "SET #s = :running, GSI1PK = :gsi, GSI1SK = :now_s, started_at = :now, "
                "job_id = :job, item_id = :id, #src = :src, destination = :dst, "
                "source_digest = :digest ADD attempts :one"
            ),
            ConditionExpression="attribute_not_exists(PK) OR #s IN (:pending, :running)",
            ExpressionAttributeNames={"#s": "status", "#src": "source"},
            ExpressionAttributeValues={
                ":running": "RUNNING",
                ":pending": "PENDING",
                ":gsi": "ITEMSTATUS#RUNNING",
                ":now_s": f"{now:017.6f}",
                ":now": Decimal(str(now)),
                ":one": 1,
                ":job": item.job_id,
                ":id": item.item_id,
                ":src": item.source,
                ":dst": item.destination,
                ":digest": item.source_digest,
            },
            ReturnValues="ALL_NEW",
        )
        return ItemRecord.model_validate(attributes) if attributes is not None else None

    def release(self, item: WorkItem, error: str, error_kind: str) -> None:
        now = self._clock()
        self._update(
            "release item",
            Key={"PK": f"JOB#{item.job_id}", "SK": f"ITEM#{item.item_id}"},
            UpdateExpression="SET #s = :pending, GSI1PK = :gsi, GSI1SK = :now_s, "
            "last_error = :error, error_kind = :kind",
            ConditionExpression="#s = :running",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":pending": "PENDING",
                ":running": "RUNNING",
                ":gsi": "ITEMSTATUS#PENDING",
                ":now_s": f"{now:017.6f}",
                ":error": error,
                ":kind": error_kind,
            },
        )

    def finish(
        self,
        item: WorkItem,
        status: ItemStatus,
        *,
        error: str | None = None,
        error_kind: str | None = None,
        bytes_copied: int = 0,
        digest: str | None = None,
    ) -> None:
        now = self._clock()
        moved = self._update(
            "finish item",
            Key={"PK": f"JOB#{item.job_id}", "SK": f"ITEM#{item.item_id}"},
            UpdateExpression="SET #s = :status, GSI1PK = :gsi, GSI1SK = :now_s, "
            "finished_at = :now, last_error = :error, error_kind = :kind, #b = :bytes, "
            "digest = :digest",
            ConditionExpression="#s = :running",
            ExpressionAttributeNames={"#s": "status", "#b": "bytes"},
            ExpressionAttributeValues={
                ":status": str(status),
                ":running": "RUNNING",
                ":gsi": f"ITEMSTATUS#{status}",
                ":now_s": f"{now:017.6f}",
                ":now": Decimal(str(now)),
                ":error": error,
                ":kind": error_kind,
                ":bytes": bytes_copied,
                ":digest": digest,
            },
            ReturnValues="ALL_NEW",
        )
        if moved is None:
            return  # finished already (a duplicate delivery): count nothing twice
        job = self._update(
            "count item on job",
            Key={"PK": f"JOB#{item.job_id}", "SK": "JOB"},
            UpdateExpression="ADD #c :one, #b :bytes",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeNames={"#c": _COUNTER[status], "#b": "bytes"},
            ExpressionAttributeValues={":one": 1, ":bytes": bytes_copied},
            ReturnValues="ALL_NEW",
        )
        if job:
            self._maybe_complete(job)

    def _maybe_complete(self, job: dict[str, Any]) -> None:
        """Close the job once every counted item finished; the condition makes it once.
        (The scan-gate state machine closes a job the same way when it holds the last item.)"""
        if job.get("status") != "RUNNING":
            return
        blocked = job.get("blocked", 0)  # absent on jobs recorded before the scan gate
        if job["done"] + job["failed"] + job["skipped"] + blocked < job["total"]:
            return
        final = "COMPLETE" if job["failed"] == 0 and blocked == 0 else "COMPLETED_WITH_ERRORS"
        closed = self._update(
            "complete job",
            Key={"PK": f"JOB#{job['job_id']}", "SK": "JOB"},
            UpdateExpression="SET #s = :final, GSI1PK = :gsi",
            ConditionExpression="#s = :running",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":final": final,
                ":running": "RUNNING",
                ":gsi": f"JOBSTATUS#{final}",
            },
            ReturnValues="ALL_NEW",
        )
        if closed is not None:
            log.info(
                "job %s %s: %d done, %d skipped, %d failed, %d blocked, %d bytes",
                job["job_id"],
                final,
                job["done"],
                job["skipped"],
                job["failed"],
                blocked,
                job["bytes"],
            )

    def get_job(self, job_id: str) -> JobRecord | None:
        try:
            found = self._table.get_item(Key={"PK": f"JOB#{job_id}", "SK": "JOB"}).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise aws_error(exc, self._where("dynamodb:GetItem")) from None
        return JobRecord.model_validate(_plain(found)) if found else None

    def list_items(self, job_id: str) -> list[ItemRecord]:
        from boto3.dynamodb.conditions import Key  # noqa: PLC0415 - only listing needs it

        items: list[ItemRecord] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("PK").eq(f"JOB#{job_id}") & Key("SK").begins_with("ITEM#")
        }
        while True:
            try:
                page = self._table.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise aws_error(exc, self._where("dynamodb:Query")) from None
            items += [ItemRecord.model_validate(_plain(i)) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
