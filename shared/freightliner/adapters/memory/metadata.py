"""The metadata cache in memory, for in-process engine tests (same port as SQLite's)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from freightliner.domain.metadata import RepositoryListing


class MemoryMetadataCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.listings: dict[tuple[str, str], RepositoryListing] = {}
        self.verified_tags: dict[tuple[str, str, str], tuple[str, float]] = {}
        self.blobs: dict[tuple[str, str], str] = {}

    def listing(self, registry: str, repository: str) -> RepositoryListing | None:
        with self._lock:
            return self.listings.get((registry, repository))

    def store_listing(self, listing: RepositoryListing) -> None:
        with self._lock:
            self.listings[(listing.registry, listing.repository)] = listing

    def verified(self, registry: str, repository: str, tag: str, max_age: float) -> str | None:
        with self._lock:
            found = self.verified_tags.get((registry, repository, tag))
        if found is None or time.time() - found[1] >= max_age:
            return None
        return found[0]

    def mark_verified(self, registry: str, repository: str, tag: str, digest: str) -> None:
        with self._lock:
            self.verified_tags[(registry, repository, tag)] = (digest, time.time())

    def blob_holder(self, registry: str, digest: str) -> str | None:
        with self._lock:
            return self.blobs.get((registry, digest))

    def remember_blobs(self, registry: str, repository: str, digests: Iterable[str]) -> None:
        with self._lock:
            for digest in digests:
                self.blobs[(registry, digest)] = repository
