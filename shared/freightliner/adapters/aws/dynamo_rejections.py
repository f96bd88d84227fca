"""Refused work items in the state table: `REJECTED#<job id>` / `ITEM#<item id>`, listed
newest first through the by-status index (`GSI1PK = REJECTED`), expiring like jobs do.

They live beside jobs, never under a job's partition: a forged item naming a real job must
not appear among (or be counted with) that job's items.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import aws_error
from freightliner.domain.errors import Where
from freightliner.domain.work import WorkItem

RETENTION_SECONDS = 30 * 24 * 3600
REJECTED_INDEX_KEY = "REJECTED"


class DynamoRejectionLog:
    def __init__(self, table: Any, clock: Any = time.time) -> None:
        self._table = table  # a boto3 DynamoDB Table resource, built by the composition root
        self._clock = clock

    def record(self, item: WorkItem, reason: str) -> None:
        now = self._clock()
        try:
            self._table.put_item(
                Item={
                    "PK": f"REJECTED#{item.job_id}",
                    "SK": f"ITEM#{item.item_id}",
                    "GSI1PK": REJECTED_INDEX_KEY,
                    "GSI1SK": f"{now:017.6f}",
                    "expires_at": int(now + RETENTION_SECONDS),
                    "job_id": item.job_id,
                    "item_id": item.item_id,
                    "action": item.action,
                    "source": item.source,
                    "destination": item.destination,
                    "reason": reason,
                    "work": item.model_dump_json(exclude_defaults=True),
                }
            )
        except (ClientError, BotoCoreError) as exc:
            where = Where(registry=f"dynamodb:{self._table.name}", operation="record rejection")
            raise aws_error(exc, where) from None
