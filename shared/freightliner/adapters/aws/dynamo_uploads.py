"""The `UploadSessions` port on the state table: a large blob's upload session is a row in
its work item's partition (`JOB#<job id>`, `UPLOAD#<item id>#<digest>`), so it lives and
expires with the item. Item listings read only `ITEM#` keys and never see it."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import own_resource_error
from freightliner.adapters.aws.table_schema import TTL_ATTRIBUTE
from freightliner.domain.errors import Where
from freightliner.domain.uploads import UploadOwner, UploadSession

SESSION_SECONDS = 7 * 24 * 3600
"""How long a session row is kept: registries purge abandoned uploads after about a week
(distribution's default `uploadpurging.age` is 168 h); a later attempt finds it gone."""


def _key(owner: UploadOwner, digest: str) -> dict[str, str]:
    return {"PK": f"JOB#{owner.job_id}", "SK": f"UPLOAD#{owner.item_id}#{digest}"}


class DynamoUploadSessions:
    def __init__(self, table: Any, clock: Any = time.time) -> None:
        self._table = table
        self._clock = clock

    def _call(self, operation: str, call: Any, **kwargs: Any) -> Any:
        try:
            return call(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise own_resource_error(exc, Where(registry="dynamodb", operation=operation)) from None

    def get(self, owner: UploadOwner, digest: str) -> UploadSession | None:
        found = self._call(
            "dynamodb:GetItem",
            self._table.get_item,
            Key=_key(owner, digest),
            ConsistentRead=True,
        ).get("Item")
        if found is None:
            return None
        return UploadSession(
            digest=str(found["digest"]),
            size=int(found["size"]),
            location=str(found["location"]),
            offset=int(found["offset"]),
        )

    def save(self, owner: UploadOwner, session: UploadSession) -> None:
        self._call(
            "dynamodb:PutItem",
            self._table.put_item,
            Item={
                **_key(owner, session.digest),
                "digest": session.digest,
                "size": session.size,
                "location": session.location,
                "offset": session.offset,
                TTL_ATTRIBUTE: int(self._clock()) + SESSION_SECONDS,
            },
        )

    def drop(self, owner: UploadOwner, digest: str) -> None:
        self._call("dynamodb:DeleteItem", self._table.delete_item, Key=_key(owner, digest))
