"""Local tree-sync checkpoints in SQLite (the embedded default).

A job row keeps the sync definition it runs, authenticated with an HMAC under the user's
checkpoint key (see checkpoint_key): a resume refuses a definition that was edited, even
with a recomputed checksum, or that another key wrote. Item rows record every image's
outcome, so a resumed run skips finished work without asking any registry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path

from pydantic import BaseModel

from freightliner.domain.errors import InvalidInput
from freightliner.domain.jobs import IMAGE_COUNTER, JobStatus, JobSummary
from freightliner.domain.work import ItemStatus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, sync_name TEXT NOT NULL, definition TEXT NOT NULL,
    checksum TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    job_id TEXT NOT NULL, item_id TEXT NOT NULL, repository TEXT NOT NULL,
    source TEXT NOT NULL, destination TEXT NOT NULL, status TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0, error TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL, PRIMARY KEY (job_id, item_id)
);
CREATE TABLE IF NOT EXISTS progress (
    job_id TEXT PRIMARY KEY, repositories INTEGER NOT NULL, repositories_done INTEGER NOT NULL,
    enumerated INTEGER NOT NULL
);
"""


_MAC_PREFIX = "hmac-sha256:"
_COLUMNS = {
    "jobs": ["job_id", "sync_name", "definition", "checksum", "status", "created_at", "updated_at"],
    "items": [
        "job_id",
        "item_id",
        "repository",
        "source",
        "destination",
        "status",
        "bytes",
        "error",
        "attempts",
        "updated_at",
    ],
    "progress": ["job_id", "repositories", "repositories_done", "enumerated"],
}


def definition_mac(key: bytes, job_id: str, sync_name: str, definition: str) -> str:
    """The MAC a job row carries: over the job id too, so rows cannot swap definitions."""
    message = json.dumps([job_id, sync_name, definition]).encode()
    return _MAC_PREFIX + hmac.new(key, message, hashlib.sha256).hexdigest()


class ItemFailure(BaseModel):
    repository: str
    destination: str
    error: str


class SqliteCheckpoints:
    def __init__(self, path: Path, key: bytes, key_origin: str) -> None:
        """`key` authenticates the definitions; `key_origin` (its file) names it in errors."""
        self.path = path
        self._key, self._key_origin = key, key_origin
        corrupt = (
            f"checkpoint file {path} is corrupt or not a checkpoint; move it away to start over"
        )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise InvalidInput(f"cannot open checkpoint file {path}: {exc}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            if self._db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise InvalidInput(corrupt)
            self._db.executescript(_SCHEMA)
            for table, columns in _COLUMNS.items():
                found = [row[1] for row in self._db.execute(f"PRAGMA table_info({table})")]
                if found != columns:
                    raise InvalidInput(corrupt)
        except sqlite3.Error:
            self._db.close()
            raise InvalidInput(corrupt) from None
        except InvalidInput:
            self._db.close()
            raise
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def create_job(self, sync_name: str, definition: str) -> str:
        job_id = f"sync-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, 'RUNNING', ?, ?)",
                (
                    job_id,
                    sync_name,
                    definition,
                    definition_mac(self._key, job_id, sync_name, definition),
                    now,
                    now,
                ),
            )
        return job_id

    def definition(self, job_id: str) -> str:
        """The job's sync definition, after checking it is the one the job was created with."""
        row = self._db.execute(
            "SELECT sync_name, definition, checksum FROM jobs WHERE job_id = ?", (job_id,)
        ).fetchone()
        if row is None:
            raise InvalidInput(f"no job {job_id} in {self.path}")
        sync_name, definition, stored = (str(value) for value in row)
        expected = definition_mac(self._key, job_id, sync_name, definition)
        if not hmac.compare_digest(expected.encode(), stored.encode("utf-8", "surrogatepass")):
            raise InvalidInput(
                f"checkpoint {self.path}: job {job_id} fails its integrity check (HMAC, key "
                f"{self._key_origin}): it was altered, or written with another key or an older "
                "version; refusing to resume it. Run the sync again without resuming, or "
                "resume with the key that wrote it (FREIGHTLINER_CHECKPOINT_KEY)"
            )
        return definition

    def finished(self, job_id: str, retry_failed: bool) -> set[str]:
        """Item ids a resume must not run again."""
        statuses = ("DONE", "SKIPPED") if retry_failed else ("DONE", "SKIPPED", "FAILED")
        marks = ",".join("?" * len(statuses))
        rows = self._db.execute(
            f"SELECT item_id FROM items WHERE job_id = ? AND status IN ({marks})",  # noqa: S608
            (job_id, *statuses),
        )
        return {row[0] for row in rows}

    def record(
        self,
        job_id: str,
        item_id: str,
        *,
        repository: str,
        source: str,
        destination: str,
        status: ItemStatus,
        bytes_copied: int = 0,
        error: str | None = None,
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?) "
                "ON CONFLICT (job_id, item_id) DO UPDATE SET status = excluded.status, "
                "bytes = excluded.bytes, error = excluded.error, "
                "attempts = items.attempts + 1, updated_at = excluded.updated_at",
                (
                    job_id,
                    item_id,
                    repository,
                    source,
                    destination,
                    str(status),
                    bytes_copied,
                    error,
                    time.time(),
                ),
            )

    def progress(self, job_id: str, repositories: int, done: int, enumerated: bool) -> None:
        """How far the run got through the tree, for `jobs status` while it runs."""
        with self._lock:
            self._db.execute(
                "INSERT INTO progress VALUES (?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET "
                "repositories = excluded.repositories, "
                "repositories_done = excluded.repositories_done, enumerated = excluded.enumerated",
                (job_id, repositories, done, int(enumerated)),
            )

    def close_job(self, job_id: str, status: JobStatus) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = ?, updated_at = ? WHERE job_id = ?",
                (str(status), time.time(), job_id),
            )

    def summary(self, job_id: str) -> JobSummary:
        row = self._db.execute(
            "SELECT job_id, sync_name, status, created_at, updated_at FROM jobs WHERE job_id = ?",
            (job_id,),
        ).fetchone()
        if row is None:
            raise InvalidInput(f"no job {job_id} in {self.path}")
        status = JobStatus(row[2])
        counts: dict[str, int] = {}
        total_bytes = 0
        for item_status, count, size in self._db.execute(
            "SELECT status, COUNT(*), SUM(bytes) FROM items WHERE job_id = ? GROUP BY status",
            (job_id,),
        ):
            word = IMAGE_COUNTER.get(ItemStatus(item_status))
            if word is not None:
                counts[word] = count
            total_bytes += size or 0
        found = self._db.execute(
            "SELECT repositories, repositories_done, enumerated FROM progress WHERE job_id = ?",
            (job_id,),
        ).fetchone()
        repositories, repositories_done, enumerated = found if found is not None else (0, 0, 0)
        return JobSummary(
            job_id=row[0],
            kind="tree",
            status=status,
            name=row[1],
            created_at=row[3],
            finished_at=None if status is JobStatus.RUNNING else row[4],
            images=None,  # only finished images are recorded here
            bytes=total_bytes,
            repositories=repositories,
            repositories_done=repositories_done,
            enumerated=bool(enumerated),
            **counts,
        )

    def jobs(self, status: JobStatus | None = None) -> list[JobSummary]:
        ids = [
            r[0]
            for r in self._db.execute("SELECT job_id, status FROM jobs ORDER BY created_at")
            if status is None or r[1] == status
        ]
        return [self.summary(job_id) for job_id in ids]

    def failures(self, job_id: str, limit: int = 20) -> list[ItemFailure]:
        rows = self._db.execute(
            "SELECT repository, destination, error FROM items WHERE job_id = ? AND "
            "status = 'FAILED' ORDER BY updated_at DESC LIMIT ?",
            (job_id, limit),
        )
        return [ItemFailure(repository=r[0], destination=r[1], error=r[2] or "") for r in rows]
