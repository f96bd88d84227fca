"""`process_item` in process: in-memory registries, queue and state store."""

from __future__ import annotations

import time

import pytest

from freightliner.adapters.memory.registry import MemoryRegistries
from freightliner.domain.errors import Unavailable
from freightliner.domain.jobs import JobRecord
from freightliner.domain.work import ItemStatus, WorkItem
from freightliner.engine.worker import process_item
from tests.support.memory_work import MemoryNotifier, MemoryStateStore
from tests.support.oci_images import Image, layer, push_image

SRC, DST = "src.test", "dst.test"


def job_with(state: MemoryStateStore, *items: WorkItem) -> None:
    job = JobRecord(job_id=items[0].job_id, created_at=time.time())
    state.create_job(job, list(items))
    state.mark_enqueued(job.job_id)


def copy_item(image: Image, destination: str = f"{DST}/mirror/app:v1") -> WorkItem:
    return WorkItem(
        job_id="evt-1",
        source=f"{SRC}/team/app@{image.digest}",
        destination=destination,
        source_digest=str(image.digest),
    )


@pytest.fixture
def registries() -> MemoryRegistries:
    return MemoryRegistries()


def test_an_item_is_copied_recorded_and_its_job_announced_once(
    registries: MemoryRegistries,
) -> None:
    image = push_image(registries.client(SRC), "team/app", "v1", [layer(1)])
    item = copy_item(image)
    state, notifier = MemoryStateStore(), MemoryNotifier()
    job_with(state, item)
    outcome = process_item(item, registries, state, notifier=notifier)
    assert outcome.outcome == "done" and outcome.digest == str(image.digest)
    assert outcome.job_closed is not None and outcome.job_closed.status == "COMPLETE"
    assert outcome.job_closed.done == 1 and outcome.job_closed.bytes == outcome.bytes > 0
    head = registries.client(DST).head_manifest("mirror/app", "v1")
    assert head is not None and head.digest == image.digest
    again = process_item(item, registries, state, notifier=notifier)
    assert again.outcome == "duplicate" and again.job_closed is None
    assert [job.job_id for job in notifier.finished] == ["evt-1"]


def test_a_retryable_failure_releases_the_item_for_redelivery(
    registries: MemoryRegistries,
) -> None:
    image = push_image(registries.client(SRC), "team/app", "v1", [layer(1)])
    item = copy_item(image)
    state = MemoryStateStore()
    job_with(state, item)
    registries.client(SRC).faults.fail("get_manifest", Unavailable)
    with pytest.raises(Unavailable):
        process_item(item, registries, state)
    [record] = state.list_items("evt-1")
    assert record.status is ItemStatus.PENDING and record.error_kind == "unavailable"
    outcome = process_item(item, registries, state)
    assert outcome.outcome == "done" and state.list_items("evt-1")[0].attempts == 2


def test_a_permanent_failure_is_recorded_not_raised(registries: MemoryRegistries) -> None:
    image = push_image(registries.client(SRC), "team/app", "v1", [layer(1)])
    registries.client(SRC).delete_manifest("team/app", image.digest)
    item = copy_item(image)
    state = MemoryStateStore()
    job_with(state, item)
    outcome = process_item(item, registries, state)
    assert outcome.outcome == "failed" and outcome.error is not None
    assert outcome.error["error"] == "not_found"
    assert outcome.job_closed is not None and outcome.job_closed.status == "COMPLETED_WITH_ERRORS"
    [failure] = state.failures("evt-1")
    assert failure.error_kind == "not_found"


def test_an_image_already_at_the_destination_is_skipped(registries: MemoryRegistries) -> None:
    image = push_image(registries.client(SRC), "team/app", "v1", [layer(1)])
    push_image(registries.client(DST), "mirror/app", "v1", [layer(1)])
    state = MemoryStateStore()
    item = copy_item(image)
    job_with(state, item)
    assert process_item(item, registries, state).outcome == "skipped"
    job = state.get_job("evt-1")
    assert job is not None and (job.skipped, job.done) == (1, 0)


def test_a_delete_removes_only_the_image_that_was_replicated(
    registries: MemoryRegistries,
) -> None:
    dst = registries.client(DST)
    replicated = push_image(dst, "mirror/app", "v1", [layer(1)])
    moved = push_image(dst, "mirror/app", "v2", [layer(2)])
    state = MemoryStateStore()
    gone, kept = (
        WorkItem(
            action="delete",
            job_id="evt-del",
            source=f"{SRC}/team/app@{replicated.digest}",
            destination=f"{DST}/mirror/app:{tag}",
            source_digest=str(replicated.digest),
        )
        for tag in ("v1", "v2")
    )
    job_with(state, gone, kept)
    assert process_item(gone, registries, state).outcome == "done"
    assert dst.head_manifest("mirror/app", "v1") is None
    closed = process_item(kept, registries, state)
    assert closed.outcome == "skipped"  # v2 is another image: left alone
    head = dst.head_manifest("mirror/app", "v2")
    assert head is not None and head.digest == moved.digest
    assert closed.job_closed is not None and closed.job_closed.status == "COMPLETE"
