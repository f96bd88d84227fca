"""`run_sync` (a tree sync on one machine) in process, on in-memory registries: selection,
skip-existing, failures kept per image, `latest` by config time, checkpoint resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from freightliner.adapters.local.checkpoint_key import load_or_create_key
from freightliner.adapters.local.sqlite_checkpoints import SqliteCheckpoints
from freightliner.adapters.memory.registry import MemoryRegistries
from freightliner.domain.sync import SyncSpec
from freightliner.engine.tree.local_sync import Checkpoint, run_sync
from tests.support.oci_images import layer, push_image

SRC, DST = "src.test", "dst.test"


def spec(**extra: Any) -> SyncSpec:
    return SyncSpec.model_validate(
        {
            "name": "prod",
            "source": {"registry": SRC, "prefix": "prod"},
            "destination": {"registry": DST, "prefix": "mirror/prod"},
            "concurrency": 2,
            **extra,
        }
    )


@pytest.fixture
def registries() -> MemoryRegistries:
    registries = MemoryRegistries()
    src = registries.client(SRC)
    for n, repository in enumerate(["prod/api", "prod/web", "prod/team/db", "dev/api"]):
        for tag in ("v1", "v2"):
            push_image(src, repository, tag, [layer(n * 10 + int(tag[1]))])
    return registries


def test_a_tree_is_copied_under_the_new_prefix_then_skipped(registries: MemoryRegistries) -> None:
    report = run_sync(spec(exclude=["team/**"]), registries)
    assert (report.repositories, report.images, report.copied, report.failed) == (2, 4, 4, 0)
    dst = registries.client(DST)
    assert sorted(dst.catalog()) == ["mirror/prod/api", "mirror/prod/web"]
    assert sorted(dst.list_tags("mirror/prod/api")) == ["v1", "v2"]
    again = run_sync(spec(exclude=["team/**"]), registries)
    assert (again.copied, again.skipped) == (0, 4)


def test_a_dry_run_lists_the_plan_and_copies_nothing(registries: MemoryRegistries) -> None:
    report = run_sync(spec(tags={"include": ["^v1$"]}), registries, dry_run=True)
    assert [p.destination for p in report.plan] == [
        f"{DST}/mirror/prod/api:v1",
        f"{DST}/mirror/prod/team/db:v1",
        f"{DST}/mirror/prod/web:v1",
    ]
    assert list(registries.client(DST).catalog()) == []


def test_one_bad_image_fails_alone_with_its_reason(
    registries: MemoryRegistries, caplog: pytest.LogCaptureFixture
) -> None:
    src = registries.client(SRC)
    broken = src.get_manifest("prod/web", "v2").manifest.layers[0].parsed_digest
    src.tamper_blob(broken, b"not the layer")
    report = run_sync(spec(), registries)
    assert (report.copied, report.failed) == (5, 1)
    [failure] = report.failures
    assert (failure.repository, failure.tag, failure.kind) == ("prod/web", "v2", "digest_mismatch")
    [line] = [r for r in caplog.records if r.levelname == "ERROR"]  # one filterable line
    assert (line.error_kind, line.repository, line.tag) == ("digest_mismatch", "prod/web", "v2")  # type: ignore[attr-defined]


def test_latest_orders_by_the_created_time_in_each_config() -> None:
    registries = MemoryRegistries()
    src = registries.client(SRC)
    for tag, created in [("a", "2026-01-03T00:00:00Z"), ("b", "2026-01-01T00:00:00Z")]:
        push_image(src, "prod/api", tag, [layer(ord(tag))], created=created)
    push_image(src, "prod/api", "c", [layer(3)], created="2026-01-02T00:00:00Z")
    report = run_sync(spec(latest=2), registries)
    assert report.copied == 2
    assert sorted(registries.client(DST).list_tags("mirror/prod/api")) == ["a", "c"]


def test_a_resumed_sync_skips_what_finished_and_retries_what_failed(
    registries: MemoryRegistries, tmp_path: Path
) -> None:
    src = registries.client(SRC)
    broken = src.get_manifest("prod/web", "v2").manifest.layers[0].parsed_digest
    original = src.get_blob("prod/web", broken)
    src.tamper_blob(broken, b"not the layer")
    key_path = tmp_path / "checkpoint.key"
    checkpoints = SqliteCheckpoints(
        tmp_path / "checkpoints.db", load_or_create_key(key_path), str(key_path)
    )
    try:
        job_id = checkpoints.create_job("prod", spec().model_dump_json())
        first = run_sync(spec(), registries, checkpoint=Checkpoint(job_id, checkpoints))
        assert (first.copied, first.failed) == (5, 1)
        src.tamper_blob(broken, original)
        stored = SyncSpec.model_validate_json(checkpoints.definition(job_id))  # MAC checked
        assert stored == spec()
        finished = frozenset(checkpoints.finished(job_id, retry_failed=True))
        assert len(finished) == 5
        uploads = registries.client(DST).faults.calls["start_upload"]
        second = run_sync(stored, registries, checkpoint=Checkpoint(job_id, checkpoints, finished))
        assert (second.copied, second.skipped, second.failed) == (1, 5, 0)
        assert registries.client(DST).faults.calls["start_upload"] - uploads == 1
        assert checkpoints.failures(job_id) == []
    finally:
        checkpoints.close()
