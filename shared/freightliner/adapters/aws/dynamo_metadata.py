"""The metadata cache in the state table, for the pipeline: which repository of a registry
holds a blob (so a later invocation mounts instead of uploading), destination tags verified
with their digest, and repository listings (layout below; rows expire with the table's TTL).

| row | PK | SK |
| --- | --- | --- |
| blob location | `BLOB#<registry>#<digest>` | `LOCATION` |
| verified tag | `VERIFIED#<registry>/<repository>` | `TAG#<tag>` |
| listing | `LISTING#<registry>/<repository>` | `LISTING` |

A cache only saves requests: a failing read is a miss and a failing write is dropped (with
a warning), never a failed copy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from freightliner.adapters.aws.table_schema import TTL_ATTRIBUTE
from freightliner.domain.metadata import RepositoryListing

log = logging.getLogger(__name__)

BLOB_RETENTION = 7 * 24 * 3600  # a stale location costs one refused mount
VERIFIED_RETENTION = 24 * 3600  # readers judge age by `verified_at`; the TTL sweeps the rest
MAX_LISTING_BYTES = 300_000  # under DynamoDB's 400 KB item limit; larger listings not kept
_FAILURES = (ClientError, BotoCoreError)


class DynamoMetadataCache:
    def __init__(self, table: Any, clock: Callable[[], float] = time.time) -> None:
        self._table = table  # a boto3 DynamoDB Table resource, built by the composition root
        self._clock = clock

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] | None = self._table.get_item(Key=key).get("Item")
        except _FAILURES as exc:
            log.warning("metadata cache read failed (%s); asking the registry", type(exc).__name__)
            return None
        if found is not None and int(found.get(TTL_ATTRIBUTE, 0)) < self._clock():
            return None  # expired, not yet swept
        return found

    def _put(self, item: dict[str, Any], retention: int) -> None:
        try:
            self._table.put_item(Item={**item, TTL_ATTRIBUTE: int(self._clock()) + retention})
        except _FAILURES as exc:
            log.warning("metadata cache write failed (%s); not remembered", type(exc).__name__)

    def listing(self, registry: str, repository: str) -> RepositoryListing | None:
        found = self._get({"PK": f"LISTING#{registry}/{repository}", "SK": "LISTING"})
        if found is None:
            return None
        try:
            return RepositoryListing.model_validate_json(str(found["listing"]))
        except (KeyError, ValidationError):
            return None

    def store_listing(self, listing: RepositoryListing) -> None:
        body = listing.model_dump_json()
        if len(body) > MAX_LISTING_BYTES:
            return
        key = {"PK": f"LISTING#{listing.registry}/{listing.repository}", "SK": "LISTING"}
        self._put({**key, "listing": body}, VERIFIED_RETENTION)

    def verified(self, registry: str, repository: str, tag: str, max_age: float) -> str | None:
        found = self._get({"PK": f"VERIFIED#{registry}/{repository}", "SK": f"TAG#{tag}"})
        if found is None or float(found.get("verified_at", 0)) <= self._clock() - max_age:
            return None
        return str(found["digest"])

    def mark_verified(self, registry: str, repository: str, tag: str, digest: str) -> None:
        row = {
            "PK": f"VERIFIED#{registry}/{repository}",
            "SK": f"TAG#{tag}",
            "digest": digest,
            "verified_at": int(self._clock()),
        }
        self._put(row, VERIFIED_RETENTION)

    def blob_holder(self, registry: str, digest: str) -> str | None:
        found = self._get({"PK": f"BLOB#{registry}#{digest}", "SK": "LOCATION"})
        return str(found["repository"]) if found is not None else None

    def remember_blobs(self, registry: str, repository: str, digests: Iterable[str]) -> None:
        for digest in digests:
            row = {"PK": f"BLOB#{registry}#{digest}", "SK": "LOCATION", "repository": repository}
            self._put(row, BLOB_RETENTION)
