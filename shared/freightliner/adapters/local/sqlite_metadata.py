"""The CLI's metadata cache in SQLite (`$XDG_CACHE_HOME/freightliner/metadata.db` by
default): repository listings, verified destination tags and blob locations per registry.

A cache, not a record: a file that is unreadable or of another shape is set aside and
started afresh, and every entry only ever saves a request (a stale blob location makes a
mount the registry refuses, then an upload; a verified tag is trusted for the TTL only).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from freightliner.domain.errors import InvalidInput
from freightliner.domain.metadata import RepositoryListing

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS listings (
    registry TEXT NOT NULL, repository TEXT NOT NULL, listing TEXT NOT NULL,
    PRIMARY KEY (registry, repository)
);
CREATE TABLE IF NOT EXISTS verified (
    registry TEXT NOT NULL, repository TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL,
    verified_at REAL NOT NULL, PRIMARY KEY (registry, repository, tag)
);
CREATE TABLE IF NOT EXISTS blobs (
    registry TEXT NOT NULL, digest TEXT NOT NULL, repository TEXT NOT NULL,
    seen_at REAL NOT NULL, PRIMARY KEY (registry, digest)
);
"""
_COLUMNS = {
    "listings": ["registry", "repository", "listing"],
    "verified": ["registry", "repository", "tag", "digest", "verified_at"],
    "blobs": ["registry", "digest", "repository", "seen_at"],
}


def default_cache_path(xdg_cache_home: str | None) -> Path:
    base = Path(xdg_cache_home) if xdg_cache_home else Path.home() / ".cache"
    return base / "freightliner" / "metadata.db"


class SqliteMetadataCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInput(
                f"cannot create the metadata cache folder {path.parent}: {exc}"
            ) from None
        try:
            self._db = self._open(path)
        except sqlite3.Error:
            log.warning("metadata cache %s is unreadable; starting a new one", path)
            with contextlib.suppress(OSError):
                path.replace(path.with_suffix(".db.corrupt"))
            try:
                self._db = self._open(path)
            except sqlite3.Error as exc:
                raise InvalidInput(f"cannot open the metadata cache {path}: {exc}") from None
        self._lock = threading.Lock()

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            for table, columns in _COLUMNS.items():
                found = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
                if found != columns:
                    raise sqlite3.DatabaseError(f"table {table} has another shape")
        except sqlite3.Error:
            db.close()
            raise
        return db

    def close(self) -> None:
        self._db.close()

    def listing(self, registry: str, repository: str) -> RepositoryListing | None:
        with self._lock:
            row = self._db.execute(
                "SELECT listing FROM listings WHERE registry = ? AND repository = ?",
                (registry, repository),
            ).fetchone()
        if row is None:
            return None
        try:
            return RepositoryListing.model_validate_json(row[0])
        except ValidationError:
            return None  # written by another version: list again

    def store_listing(self, listing: RepositoryListing) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO listings VALUES (?, ?, ?)",
                (listing.registry, listing.repository, listing.model_dump_json()),
            )

    def verified(self, registry: str, repository: str, tag: str, max_age: float) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT digest FROM verified WHERE registry = ? AND repository = ? AND tag = ? "
                "AND verified_at > ?",
                (registry, repository, tag, time.time() - max_age),
            ).fetchone()
        return str(row[0]) if row else None

    def mark_verified(self, registry: str, repository: str, tag: str, digest: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO verified VALUES (?, ?, ?, ?, ?)",
                (registry, repository, tag, digest, time.time()),
            )

    def blob_holder(self, registry: str, digest: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT repository FROM blobs WHERE registry = ? AND digest = ?",
                (registry, digest),
            ).fetchone()
        return str(row[0]) if row else None

    def remember_blobs(self, registry: str, repository: str, digests: Iterable[str]) -> None:
        now = time.time()
        rows = [(registry, digest, repository, now) for digest in digests]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO blobs VALUES (?, ?, ?, ?)", rows)
