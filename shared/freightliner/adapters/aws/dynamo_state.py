"""The StateStore port on DynamoDB (see table_schema for the layout).

Every item transition that moves a job counter is one transaction with that counter, so a
crash can never leave a finished item uncounted (the job would never complete) or counted
twice. Items are recorded with conditional puts: a redelivered repository item re-records
nothing that already exists, however far its images got.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import error_code, own_resource_error
from freightliner.adapters.aws.table_schema import STATUS_INDEX
from freightliner.domain.errors import Where
from freightliner.domain.work import ItemStatus, WorkItem
from freightliner.ports.work import ItemRecord, JobRecord

RETENTION_SECONDS = 30 * 24 * 3600
TRANSACTION_LIMIT = 100  # DynamoDB's cap on actions per TransactWriteItems
REOPEN_PAGE = 250  # items read per page when a job is resumed
JOB_STATUSES = ("ENUMERATING", "RUNNING", "COMPLETE", "COMPLETED_WITH_ERRORS")
log = logging.getLogger(__name__)
_IMAGE_COUNTER = {
    ItemStatus.DONE: "done",
    ItemStatus.FAILED: "failed",
    ItemStatus.SKIPPED: "skipped",
    ItemStatus.BLOCKED: "blocked",  # written by the scan-gate state machine
}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _job_key(job_id: str) -> dict[str, str]:
    return {"PK": f"JOB#{job_id}", "SK": "JOB"}


def _item_key(job_id: str, item_id: str) -> dict[str, str]:
    return {"PK": f"JOB#{job_id}", "SK": f"ITEM#{item_id}"}


def _counts(counters: dict[str, int]) -> tuple[str, dict[str, str], dict[str, int]]:
    """An `ADD` expression for the non-zero counters."""
    live = {name: amount for name, amount in counters.items() if amount}
    names = {f"#c{n}": name for n, name in enumerate(live)}
    values = {f":c{n}": amount for n, amount in enumerate(live.values())}
    expression = "ADD " + ", ".join(f"#c{n} :c{n}" for n in range(len(live)))
    return expression, names, values


class DynamoStateStore:
    def __init__(self, table: Any, clock: Any = time.time) -> None:
        self._table = table  # a boto3 DynamoDB Table resource, built by the composition root
        self._clock = clock

    def _where(self, operation: str) -> Where:
        return Where(registry=f"dynamodb:{self._table.name}", operation=operation)

    # -- writing ------------------------------------------------------------------------

    def create_job(self, job: JobRecord, items: Sequence[WorkItem]) -> bool:
        now = self._clock()
        record = job.model_dump(exclude_none=True)
        record.update(total=len(items), created_at=Decimal(str(job.created_at)))
        try:
            self._table.put_item(
                Item={
                    **_job_key(job.job_id),
                    "GSI1PK": f"JOBSTATUS#{job.status}",
                    "GSI1SK": f"{now:017.6f}",
                    "expires_at": int(now + RETENTION_SECONDS),
                    **record,
                },
                ConditionExpression="attribute_not_exists(PK)",
            )
            with self._table.batch_writer() as batch:
                for item in items:
                    batch.put_item(Item=self._item(item, now))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise own_resource_error(exc, self._where("dynamodb:PutItem")) from None
        except BotoCoreError as exc:
            raise own_resource_error(exc, self._where("dynamodb:PutItem")) from None
        return True

    def mark_enqueued(self, job_id: str) -> JobRecord | None:
        job = self._move_job(
            job_id,
            "RUNNING",
            when=("ENUMERATING", "RUNNING"),
            set_also="enqueued = :yes",
            values={":yes": True},
        )
        # Every item may have finished while the job was enumerating.
        return self._maybe_complete(JobRecord.model_validate(job)) if job else None

    def add_items(self, job_id: str, items: Sequence[WorkItem]) -> list[WorkItem]:
        added: list[WorkItem] = []
        step = TRANSACTION_LIMIT - 1  # one action left for the job's counters
        for start in range(0, len(items), step):
            added += self._add_chunk(job_id, list(items[start : start + step]))
        return added

    def _add_chunk(self, job_id: str, items: list[WorkItem]) -> list[WorkItem]:
        now = self._clock()
        puts = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": self._item(item, now),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
            for item in items
        ]
        try:
            self._transact([*puts, self._count_new(job_id, items)], "record items")
            return items
        except _Cancelled:
            pass  # some were recorded before (a redelivery): record the others one by one
        fresh: list[WorkItem] = []
        for item, put in zip(items, puts, strict=True):
            try:
                self._table.put_item(
                    Item=put["Put"]["Item"], ConditionExpression="attribute_not_exists(PK)"
                )
                fresh.append(item)
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise own_resource_error(exc, self._where("dynamodb:PutItem")) from None
            except BotoCoreError as exc:
                raise own_resource_error(exc, self._where("dynamodb:PutItem")) from None
        if fresh:
            self._transact([self._count_new(job_id, fresh)], "count items")
        return fresh

    def _count_new(self, job_id: str, items: list[WorkItem]) -> dict[str, Any]:
        repositories = sum(1 for i in items if i.action == "repository" and i.page is None)
        images = sum(1 for i in items if i.action != "repository")
        return self._counter_update(job_id, {"total": images, "repositories": repositories})

    def _counter_update(self, job_id: str, counters: dict[str, int]) -> dict[str, Any]:
        expression, names, values = _counts(counters)
        target = {
            "TableName": self._table.name,
            "Key": _job_key(job_id),
            "ConditionExpression": "attribute_exists(PK)",
        }
        if not names:  # nothing to count: only check the job exists
            return {"ConditionCheck": target}
        return {
            "Update": {
                **target,
                "UpdateExpression": expression,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _item(self, item: WorkItem, now: float) -> dict[str, Any]:
        return {
            **_item_key(item.job_id, item.item_id),
            "GSI1PK": f"ITEMSTATUS#{ItemStatus.PENDING}",
            "GSI1SK": f"{now:017.6f}",
            "expires_at": int(now + RETENTION_SECONDS),
            "job_id": item.job_id,
            "item_id": item.item_id,
            "status": str(ItemStatus.PENDING),
            "source": item.source,
            "destination": item.destination,
            "source_digest": item.source_digest,
            "attempts": 0,
            "work": item.model_dump_json(exclude_defaults=True),
        }

    def claim(self, item: WorkItem) -> ItemRecord | None:
        now = self._clock()
        attributes = self._update(
            "claim item",
            Key=_item_key(item.job_id, item.item_id),
            UpdateExpression=(
                "SET #s = :running, GSI1PK = :gsi, GSI1SK = :now_s, started_at = :now, "
                "job_id = :job, item_id = :id, #src = :src, destination = :dst, "
                "source_digest = :digest, #w = if_not_exists(#w, :work) ADD attempts :one"
            ),
            ConditionExpression="attribute_not_exists(PK) OR #s IN (:pending, :running)",
            ExpressionAttributeNames={"#s": "status", "#src": "source", "#w": "work"},
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
                ":work": item.model_dump_json(exclude_defaults=True),
            },
            ReturnValues="ALL_NEW",
        )
        return ItemRecord.model_validate(attributes) if attributes is not None else None

    def release(self, item: WorkItem, error: str, error_kind: str) -> None:
        now = self._clock()
        self._update(
            "release item",
            Key=_item_key(item.job_id, item.item_id),
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
        images_skipped: int = 0,
        continued: bool = False,
    ) -> JobRecord | None:
        now = self._clock()
        transition = {
            "Update": {
                "TableName": self._table.name,
                "Key": _item_key(item.job_id, item.item_id),
                "UpdateExpression": "SET #s = :status, GSI1PK = :gsi, GSI1SK = :now_s, "
                "finished_at = :now, last_error = :error, error_kind = :kind, #b = :bytes, "
                "digest = :digest",
                "ConditionExpression": "#s = :running",
                "ExpressionAttributeNames": {"#s": "status", "#b": "bytes"},
                "ExpressionAttributeValues": {
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
            }
        }
        counters = _finish_counters(item, status, images_skipped, continued)
        counters["bytes"] = bytes_copied
        try:
            self._transact([transition, self._counter_update(item.job_id, counters)], "finish")
        except _Cancelled as cancelled:
            if 0 in cancelled.failed:
                return None  # finished already (a duplicate delivery): count nothing twice
            with contextlib.suppress(_Cancelled):  # no such job (an item sent by hand)
                self._transact([transition], "finish item")
            return None
        job = self.get_job(item.job_id, consistent=True)
        return self._maybe_complete(job) if job else None

    def _maybe_complete(self, job: JobRecord) -> JobRecord | None:
        """Close the job once every counted item finished; the condition makes it once."""
        if job.status != "RUNNING" or not job.complete:
            return None
        failed = job.failed or job.blocked or job.repositories_failed
        final = "COMPLETED_WITH_ERRORS" if failed else "COMPLETE"
        closed = self._move_job(
            job.job_id,
            final,
            when=("RUNNING",),
            set_also="finished_at = :now",
            values={":now": Decimal(str(self._clock()))},
        )
        return JobRecord.model_validate(closed) if closed is not None else None

    def reopen(self, job_id: str, include_failed: bool) -> Iterator[WorkItem]:
        unfinished = {"PENDING", "RUNNING", *({"FAILED"} if include_failed else set())}
        status_is = Attr("status").is_in(sorted(unfinished))
        # Small pages: the first batch goes out after one short read, however big the job.
        for record in self._query_items(job_id, status_is, page_size=REOPEN_PAGE):
            if record.work is None:
                continue  # recorded by an older version: nothing to send again
            item = WorkItem.model_validate_json(record.work)
            if record.status is ItemStatus.FAILED and not self._unfail(item):
                continue
            yield item

    def _unfail(self, item: WorkItem) -> bool:
        """FAILED → PENDING with the job's failure counter taken back, in one transaction;
        a closed job runs again."""
        counters = _finish_counters(item, ItemStatus.FAILED, 0, False)
        back = {name: -amount for name, amount in counters.items()}
        now = self._clock()
        try:
            self._transact(
                [
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": _item_key(item.job_id, item.item_id),
                            "UpdateExpression": "SET #s = :pending, GSI1PK = :gsi, GSI1SK = :now_s",
                            "ConditionExpression": "#s = :failed",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {
                                ":pending": "PENDING",
                                ":failed": "FAILED",
                                ":gsi": "ITEMSTATUS#PENDING",
                                ":now_s": f"{now:017.6f}",
                            },
                        }
                    },
                    self._counter_update(item.job_id, back),
                ],
                "retry failed item",
            )
        except _Cancelled:
            return False  # retried by someone else already
        self._move_job(
            item.job_id, "RUNNING", when=("COMPLETED_WITH_ERRORS",), remove="finished_at"
        )
        return True

    # -- reading ------------------------------------------------------------------------

    def get_job(self, job_id: str, consistent: bool = False) -> JobRecord | None:
        try:
            found = self._table.get_item(Key=_job_key(job_id), ConsistentRead=consistent).get(
                "Item"
            )
        except (ClientError, BotoCoreError) as exc:
            raise own_resource_error(exc, self._where("dynamodb:GetItem")) from None
        return JobRecord.model_validate(_plain(found)) if found else None

    def list_jobs(self, limit: int = 50) -> list[JobRecord]:
        """Newest first, from the by-status index (one query per job status)."""
        jobs: list[JobRecord] = []
        for status in JOB_STATUSES:
            pages = self._query(
                IndexName=STATUS_INDEX,
                KeyConditionExpression=Key("GSI1PK").eq(f"JOBSTATUS#{status}"),
                ScanIndexForward=False,
                Limit=limit,
            )
            for n, found in enumerate(pages):
                jobs.append(JobRecord.model_validate(found))
                if n + 1 >= limit:
                    break
        return sorted(jobs, key=lambda j: j.created_at, reverse=True)[:limit]

    def list_items(self, job_id: str) -> list[ItemRecord]:
        return list(self._query_items(job_id))

    def failures(self, job_id: str, limit: int = 20) -> list[ItemRecord]:
        failed = list(self._query_items(job_id, Attr("status").eq("FAILED")))
        return sorted(failed, key=lambda i: i.finished_at or 0, reverse=True)[:limit]

    def _query_items(
        self, job_id: str, where: Any = None, page_size: int | None = None
    ) -> Iterator[ItemRecord]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("PK").eq(f"JOB#{job_id}") & Key("SK").begins_with("ITEM#")
        }
        if where is not None:
            kwargs["FilterExpression"] = where
        if page_size is not None:
            kwargs["Limit"] = page_size
        for found in self._query(**kwargs):
            yield ItemRecord.model_validate(found)

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            try:
                page = self._table.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise own_resource_error(exc, self._where("dynamodb:Query")) from None
            for found in page.get("Items", []):
                yield dict(_plain(found))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- plumbing -----------------------------------------------------------------------

    def _update(self, operation: str, **kwargs: Any) -> dict[str, Any] | None:
        try:
            response = self._table.update_item(**kwargs)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise own_resource_error(exc, self._where(operation)) from None
        except BotoCoreError as exc:
            raise own_resource_error(exc, self._where(operation)) from None
        return dict(_plain(response.get("Attributes", {})))

    def _move_job(
        self,
        job_id: str,
        to: str,
        *,
        when: tuple[str, ...],
        set_also: str = "",
        remove: str = "",
        values: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Job status `when` → `to` (the by-status index with it), or None if the job was
        not in one of those statuses."""
        allowed = {f":w{n}": status for n, status in enumerate(when)}
        expression = "SET #s = :to, GSI1PK = :gsi" + (f", {set_also}" if set_also else "")
        return self._update(
            f"job {'/'.join(when)} -> {to}",
            Key=_job_key(job_id),
            UpdateExpression=expression + (f" REMOVE {remove}" if remove else ""),
            ConditionExpression=f"#s IN ({', '.join(allowed)})",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":to": to,
                ":gsi": f"JOBSTATUS#{to}",
                **allowed,
                **(values or {}),
            },
            ReturnValues="ALL_NEW",
        )

    def _transact(self, actions: list[dict[str, Any]], operation: str) -> None:
        """All or nothing; `_Cancelled` when a condition failed (the caller decides)."""
        try:
            self._table.meta.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            failed = _failed_conditions(exc)
            if failed:
                raise _Cancelled(failed) from None
            raise own_resource_error(
                exc, self._where(f"{operation} (TransactWriteItems)")
            ) from None
        except BotoCoreError as exc:
            raise own_resource_error(
                exc, self._where(f"{operation} (TransactWriteItems)")
            ) from None


class _Cancelled(Exception):
    """A transaction's condition failed: an item was not in the state it expected."""

    def __init__(self, failed: list[int]) -> None:
        super().__init__(f"conditions failed on actions {failed}")
        self.failed = failed  # the indexes of the actions whose condition failed


def _failed_conditions(exc: ClientError) -> list[int]:
    if error_code(exc) != "TransactionCanceledException":
        return []
    reasons = exc.response.get("CancellationReasons")
    if reasons is None:  # older endpoints: only the message lists the reasons, in order
        listed = str(exc.response.get("Error", {}).get("Message", "")).rpartition("[")[2]
        reasons = [{"Code": code.strip(" ]")} for code in listed.split(",")]
    return [n for n, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"]


def _finish_counters(
    item: WorkItem, status: ItemStatus, images_skipped: int, continued: bool
) -> dict[str, int]:
    """What finishing `item` with `status` adds to its job."""
    if item.action != "repository":
        return {_IMAGE_COUNTER[status]: 1}
    counters = {"total": images_skipped, "skipped": images_skipped}
    if status is ItemStatus.FAILED:
        counters["repositories_failed"] = 1
    elif not continued:  # SKIPPED: none of the repository's images needed copying
        skipped = status is ItemStatus.SKIPPED
        counters["repositories_skipped" if skipped else "repositories_done"] = 1
    return counters
