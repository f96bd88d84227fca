"""The checkpoint reader against edited job rows: any change to a definition, its sync name
or its job id is refused, whatever checksum is written beside it (issue 11, points 7, 10)."""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freightliner.adapters.local.sqlite_checkpoints import SqliteCheckpoints, definition_mac
from freightliner.domain.errors import InvalidInput

KEY = bytes(range(32))
DEFINITION = '{"name":"tree","source":{"registry":"a.io"},"destination":{"registry":"b.io"}}'


def _store(path: Path, key: bytes = KEY) -> SqliteCheckpoints:
    return SqliteCheckpoints(path, key, "test.key")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    column=st.sampled_from(["definition", "sync_name"]),
    value=st.text(max_size=80),
    checksum=st.sampled_from(["sha256", "stale", "mac-with-another-key", "random"]),
    noise=st.text(max_size=20),
)
def test_an_edited_job_row_is_refused_whatever_its_checksum(
    tmp_path: Path, column: str, value: str, checksum: str, noise: str
) -> None:
    path = tmp_path / f"{uuid.uuid4().hex}.db"  # a fresh file per example
    store = _store(path)
    job_id = store.create_job("tree", DEFINITION)
    store.close()
    with sqlite3.connect(path) as db:
        [(name, definition, stored)] = db.execute(
            "SELECT sync_name, definition, checksum FROM jobs"
        )
        edited = {"sync_name": name, "definition": definition, column: value}
        if edited["sync_name"] == name and edited["definition"] == definition:
            return  # not an edit
        new = {
            "sha256": hashlib.sha256(edited["definition"].encode()).hexdigest(),
            "stale": stored,
            "mac-with-another-key": definition_mac(
                b"\x01" * 32, job_id, edited["sync_name"], edited["definition"]
            ),
            "random": noise,
        }[checksum]
        db.execute(
            "UPDATE jobs SET sync_name = ?, definition = ?, checksum = ?",
            (edited["sync_name"], edited["definition"], new),
        )
    store = _store(path)
    try:
        with pytest.raises(InvalidInput, match="fails its integrity check"):
            store.definition(job_id)
    finally:
        store.close()


def test_the_untouched_row_is_read_back_and_only_with_its_key(tmp_path: Path) -> None:
    store = _store(tmp_path / "c.db")
    job_id = store.create_job("tree", DEFINITION)
    assert store.definition(job_id) == DEFINITION
    store.close()
    other = _store(tmp_path / "c.db", b"\x02" * 32)
    with pytest.raises(InvalidInput, match=f"checkpoint {tmp_path / 'c.db'}: job {job_id}"):
        other.definition(job_id)
    other.close()
