"""The StateStore port on DynamoDB (see table_schema for the layout): the one writer of job
state. The rules (what an item adds to its job, when a job closes and as what) come from
freightliner.domain.jobs; this module only turns them into conditional writes, every update
expression built by `Update`.

Every item transition that moves a job counter is one transaction with that counter, so a
crash can never leave a finished item uncounted (the job would never complete) or counted
twice. Items are recorded with conditional puts: a redelivered repository item re-records
nothing that already exists, however far its images got.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.dynamo_payloads import DynamoPayloads
from freightliner.adapters.aws.errors import error_code, own_resource_error
from freightliner.adapters.aws.table_schema import STATUS_INDEX, correlation_key, digest_key
from freightliner.domain.errors import Where
from freightliner.domain.jobs import (
    JobRecord,
    JobStatus,
    finish_counters,
    new_item_counters,
    retry_counters,
)
from freightliner.domain.work import GateOutcome, ItemStatus, WorkItem
from freightliner.ports.payloads import PayloadCodec
from freightliner.ports.work import ItemRecord, Recorded

RETENTION_SECONDS = 30 * 24 * 3600
TRANSACTION_LIMIT = 100  # DynamoDB's cap on actions per TransactWriteItems
REOPEN_PAGE = 250  # items read per page when a job is resumed
WORK_LIMIT = 64_000  # an item's `work` past this is compressed, then stored in parts
DETAIL_LIMIT = 64_000  # the same for each value of a job's detail (a sync definition)
log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _stored(value: Any) -> Any:
    """Floats as Decimal and enum members as their text, as boto3 wants them."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {k: _stored(v) for k, v in value.items()}
    return value


def _job_key(job_id: str) -> dict[str, str]:
    return {"PK": f"JOB#{job_id}", "SK": "JOB"}


def _item_key(job_id: str, item_id: str) -> dict[str, str]:
    return {"PK": f"JOB#{job_id}", "SK": f"ITEM#{item_id}"}


def _trace_keys(item: WorkItem, now: float) -> dict[str, str]:
    """An item's place in the by-trace index (by source digest); none for a repository."""
    if not item.source_digest:
        return {}
    return {
        "GSI2PK": digest_key(item.source_digest),
        "GSI2SK": f"{item.source_digest}#{now:017.6f}",
    }


class Update:
    """One conditional update of one record: SET, ADD and REMOVE clauses and a condition,
    every attribute name and value a placeholder. The only place update expressions are
    written."""

    def __init__(self, key: dict[str, str]) -> None:
        self.key = key
        self._names: dict[str, str] = {}
        self._values: dict[str, Any] = {}
        self._set: list[str] = []
        self._add: list[str] = []
        self._remove: list[str] = []
        self._conditions: list[str] = []

    def _name(self, attribute: str) -> str:
        for placeholder, name in self._names.items():
            if name == attribute:
                return placeholder
        placeholder = f"#n{len(self._names)}"
        self._names[placeholder] = attribute
        return placeholder

    def _value(self, value: Any) -> str:
        placeholder = f":v{len(self._values)}"
        self._values[placeholder] = _stored(value)
        return placeholder

    def set(self, **attributes: Any) -> Update:
        self._set += [f"{self._name(a)} = {self._value(v)}" for a, v in attributes.items()]
        return self

    def set_once(self, **attributes: Any) -> Update:
        """SET unless the attribute exists already."""
        for attribute, value in attributes.items():
            name = self._name(attribute)
            self._set.append(f"{name} = if_not_exists({name}, {self._value(value)})")
        return self

    def add(self, counters: Mapping[str, int]) -> Update:
        """ADD the non-zero counters."""
        self._add += [
            f"{self._name(c)} {self._value(amount)}" for c, amount in counters.items() if amount
        ]
        return self

    def remove(self, *attributes: str) -> Update:
        self._remove += [self._name(a) for a in attributes]
        return self

    def when_status(self, *statuses: str, or_new: bool = False) -> Update:
        """Only from one of these statuses (or, `or_new`, when the record does not exist)."""
        listed = ", ".join(self._value(str(s)) for s in statuses)
        condition = f"{self._name('status')} IN ({listed})"
        self._conditions.append(
            f"(attribute_not_exists(PK) OR {condition})" if or_new else condition
        )
        return self

    def when_exists(self) -> Update:
        self._conditions.append("attribute_exists(PK)")
        return self

    @property
    def changes(self) -> bool:
        return bool(self._set or self._add or self._remove)

    def params(self) -> dict[str, Any]:
        """update_item's keyword arguments (a transaction's Update or ConditionCheck, given
        a TableName)."""
        clauses = [
            f"{verb} {', '.join(parts)}"
            for verb, parts in (("SET", self._set), ("ADD", self._add), ("REMOVE", self._remove))
            if parts
        ]
        params: dict[str, Any] = {"Key": self.key}
        if clauses:
            params["UpdateExpression"] = " ".join(clauses)
        if self._conditions:
            params["ConditionExpression"] = " AND ".join(self._conditions)
        if self._names:
            params["ExpressionAttributeNames"] = dict(self._names)
        if self._values:
            params["ExpressionAttributeValues"] = dict(self._values)
        return params


class DynamoStateStore:
    def __init__(
        self, table: Any, clock: Any = time.time, payloads: PayloadCodec | None = None
    ) -> None:
        self._table = table  # a boto3 DynamoDB Table resource, built by the composition root
        self._clock = clock
        self._payloads = payloads or PayloadCodec(DynamoPayloads(table, clock))

    def _job(self, row: Mapping[str, Any]) -> JobRecord:
        """A job row as a record, its detail unpacked (see `create_job`)."""
        detail = row.get("detail") or {}
        unpacked = {key: self._payloads.unpack(value) for key, value in detail.items()}
        return JobRecord.model_validate({**row, "detail": unpacked})

    def _work(self, item: WorkItem) -> str:
        """The item's JSON for its row: compressed, or stored in parts, past `WORK_LIMIT`."""
        return self._payloads.pack(item.model_dump_json(exclude_defaults=True), WORK_LIMIT)

    def _where(self, operation: str) -> Where:
        return Where(registry=f"dynamodb:{self._table.name}", operation=operation)

    # -- writing ------------------------------------------------------------------------

    def create_job(
        self, job: JobRecord, items: Sequence[WorkItem], gated: Sequence[WorkItem] = ()
    ) -> bool:
        now = self._clock()
        record = job.model_dump(exclude_none=True)
        record.update(total=len(items) + len(gated), created_at=Decimal(str(job.created_at)))
        if job.correlation_id:  # `freightliner trace <correlation id>` finds the job
            record.update(GSI2PK=correlation_key(job.correlation_id), GSI2SK=f"{now:017.6f}")
        record["detail"] = {  # a large sync definition: compressed, or stored in parts
            key: self._payloads.pack(value, DETAIL_LIMIT) for key, value in job.detail.items()
        }
        try:
            self._table.put_item(
                Item={
                    **_job_key(job.job_id),
                    # The by-status index lists jobs (`jobs list`), newest first.
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
                for item in gated:
                    batch.put_item(Item={**self._item(item, now), "gated": True})
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
            JobStatus.RUNNING,
            when=(JobStatus.ENUMERATING, JobStatus.RUNNING),
            update=lambda u: u.set(enqueued=True),
        )
        # Every item may have finished while the job was enumerating.
        return self._close_if_complete(job) if job else None

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
            self._transact([*puts, self._count(job_id, new_item_counters(items))], "record items")
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
            self._transact([self._count(job_id, new_item_counters(fresh))], "count items")
        return fresh

    def _count(self, job_id: str, counters: Mapping[str, int]) -> dict[str, Any]:
        """A transaction action adding `counters` to the job (checking it exists)."""
        update = Update(_job_key(job_id)).add(counters).when_exists()
        return self._action(update)

    def _action(self, update: Update) -> dict[str, Any]:
        kind = "Update" if update.changes else "ConditionCheck"
        return {kind: {"TableName": self._table.name, **update.params()}}

    def _item(self, item: WorkItem, now: float) -> dict[str, Any]:
        """A new PENDING item. Items stay out of the by-status index: nothing lists items
        by status across jobs (a job's items are read by its key)."""
        return {
            **_item_key(item.job_id, item.item_id),
            "expires_at": int(now + RETENTION_SECONDS),
            "job_id": item.job_id,
            "item_id": item.item_id,
            "status": str(ItemStatus.PENDING),
            "source": item.source,
            "destination": item.destination,
            "source_digest": item.source_digest,
            "attempts": 0,
            "work": self._work(item),
            "created_at": Decimal(str(now)),
            "correlation_id": item.trace_id,
            **_trace_keys(item, now),
        }

    def claim(self, item: WorkItem) -> ItemRecord | None:
        now = self._clock()
        update = (
            Update(_item_key(item.job_id, item.item_id))
            .set(
                status=ItemStatus.RUNNING,
                started_at=now,
                job_id=item.job_id,
                item_id=item.item_id,
                source=item.source,
                destination=item.destination,
                source_digest=item.source_digest,
            )
            .set_once(
                work=self._work(item),
                created_at=now,
                correlation_id=item.trace_id,
                **_trace_keys(item, now),
            )
            .add({"attempts": 1})
            .when_status(ItemStatus.PENDING, ItemStatus.RUNNING, or_new=True)
        )
        attributes = self._update("claim item", update, ReturnValues="ALL_NEW")
        return ItemRecord.model_validate(attributes) if attributes is not None else None

    def release(self, item: WorkItem, error: str, error_kind: str) -> None:
        update = (
            Update(_item_key(item.job_id, item.item_id))
            .set(status=ItemStatus.PENDING, last_error=error, error_kind=error_kind)
            .when_status(ItemStatus.RUNNING)
        )
        self._update("release item", update)

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
        transition = (
            Update(_item_key(item.job_id, item.item_id))
            .set(
                status=status,
                finished_at=self._clock(),
                last_error=error,
                error_kind=error_kind,
                bytes=bytes_copied,
                digest=digest,
            )
            .when_status(ItemStatus.RUNNING)
        )
        counters = finish_counters(item, status, images_skipped, continued)
        counters["bytes"] = bytes_copied
        return self._end_item(item, transition, counters, "finish").closed

    def record_gate(self, item: WorkItem, outcome: GateOutcome, execution: str) -> Recorded:
        item_update = Update(_item_key(item.job_id, item.item_id))
        item_update.set(
            scan_findings=dict(outcome.findings), gate_execution=execution, gate_at=self._clock()
        )
        item_update.when_status(ItemStatus.PENDING)
        if outcome.status is ItemStatus.PENDING:  # let through: why stays on the item
            recorded = self._update(
                "record gate pass", item_update.set(scan_verdict=outcome.reason)
            )
            return Recorded(recorded=recorded is not None)
        item_update.set(
            status=outcome.status,
            finished_at=self._clock(),
            last_error=outcome.reason,
            error_kind=outcome.error_kind,
        )
        return self._end_item(item, item_update, finish_counters(item, outcome.status), "hold")

    def _end_item(
        self, item: WorkItem, transition: Update, counters: Mapping[str, int], operation: str
    ) -> Recorded:
        """The item's terminal transition and its job's counters, atomically; then the job's
        close if this was its last item."""
        try:
            self._transact(
                [self._action(transition), self._count(item.job_id, counters)], operation
            )
        except _Cancelled as cancelled:
            if 0 in cancelled.failed:
                return Recorded(recorded=False)  # ended already: count nothing twice
            with contextlib.suppress(_Cancelled):  # no such job (an item sent by hand)
                self._transact([self._action(transition)], f"{operation} item")
            return Recorded(recorded=True)
        job = self.get_job(item.job_id, consistent=True)
        return Recorded(recorded=True, closed=self._close_if_complete(job) if job else None)

    def _close_if_complete(self, job: JobRecord) -> JobRecord | None:
        """Close the job as the domain says, once: the condition makes it once."""
        final = job.closing_status()
        if final is None:
            return None
        return self._move_job(
            job.job_id,
            final,
            when=(JobStatus.RUNNING,),
            update=lambda u: u.set(finished_at=self._clock()),
        )

    def reopen(self, job_id: str, include_failed: bool) -> Iterator[WorkItem]:
        unfinished = {"PENDING", "RUNNING", *({"FAILED"} if include_failed else set())}
        status_is = Attr("status").is_in(sorted(unfinished))
        # Small pages: the first batch goes out after one short read, however big the job.
        for record in self._query_items(job_id, status_is, page_size=REOPEN_PAGE):
            if record.work is None:
                continue  # recorded by an older version: nothing to send again
            if record.held_by_gate:
                log.info("item %s: the scan gate holds it; not sent again", record.item_id)
                continue
            item = WorkItem.model_validate_json(self._payloads.unpack(record.work))
            if record.status is ItemStatus.FAILED and not self._unfail(item):
                continue
            yield item

    def _unfail(self, item: WorkItem) -> bool:
        """FAILED → PENDING with the job's failure counter taken back, in one transaction;
        a closed job runs again."""
        transition = (
            Update(_item_key(item.job_id, item.item_id))
            .set(status=ItemStatus.PENDING)
            .when_status(ItemStatus.FAILED)
        )
        try:
            self._transact(
                [self._action(transition), self._count(item.job_id, retry_counters(item))],
                "retry failed item",
            )
        except _Cancelled:
            return False  # retried by someone else already
        self._move_job(
            item.job_id,
            JobStatus.RUNNING,
            when=(JobStatus.COMPLETED_WITH_ERRORS,),
            update=lambda u: u.remove("finished_at"),
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
        return self._job(_plain(found)) if found else None

    def list_jobs(self, limit: int = 50, status: JobStatus | None = None) -> list[JobRecord]:
        """Newest first, from the by-status index (one query per job status asked for)."""
        jobs: list[JobRecord] = []
        for listed in [status] if status is not None else list(JobStatus):
            pages = self._query(
                IndexName=STATUS_INDEX,
                KeyConditionExpression=Key("GSI1PK").eq(f"JOBSTATUS#{listed}"),
                ScanIndexForward=False,
                Limit=limit,
            )
            for n, found in enumerate(pages):
                jobs.append(self._job(found))
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

    def _update(self, operation: str, update: Update, **extra: Any) -> dict[str, Any] | None:
        """The update's new attributes, or None when its condition failed."""
        try:
            response = self._table.update_item(**update.params(), **extra)
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
        to: JobStatus,
        *,
        when: tuple[JobStatus, ...],
        update: Callable[[Update], object] | None = None,
    ) -> JobRecord | None:
        """Job status `when` → `to` (its by-status index key with it), with `update`'s
        other changes; None if the job was not in one of those statuses."""
        move = Update(_job_key(job_id)).set(status=to, GSI1PK=f"JOBSTATUS#{to}")
        if update is not None:
            update(move)
        moved = self._update(
            f"job {'/'.join(when)} -> {to}", move.when_status(*when), ReturnValues="ALL_NEW"
        )
        return self._job(moved) if moved is not None else None

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
