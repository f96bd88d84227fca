"""`process_item` in process: in-memory registries, queue, state store and rejection log; jobs
are made by `accept_event` from an image event and the rules, as the intake makes them."""

from __future__ import annotations

from collections import Counter
from typing import Literal

import pytest

from freightliner.adapters.memory.registry import MemoryRegistries
from freightliner.domain.errors import Unavailable
from freightliner.domain.events import ImageEvent
from freightliner.domain.rules import RulesDocument, parse_rules
from freightliner.domain.work import ItemStatus, WorkItem
from freightliner.engine.events.intake import accept_event
from freightliner.engine.jobs.worker import ItemOutcome, process_item
from tests.support.memory_work import (
    MemoryNotifier,
    MemoryQueue,
    MemoryRejectionLog,
    MemoryStateStore,
)
from tests.support.oci_images import Image, layer, push_image

SRC, DST = "src.test", "dst.test"
RULES = parse_rules(
    "rules:\n  - name: mirror\n"
    f"    source: {{registry: {SRC}, repository: 'team/*'}}\n"
    f"    destinations: [{{registry: {DST}, repository: 'mirror/{{name}}'}}]\n"
    "    mirror_deletes: true\n"
)


class Worker:
    """The ports a worker runs with, in memory, and the intake that makes its jobs."""

    def __init__(self) -> None:
        self.registries = MemoryRegistries()
        self.queue = MemoryQueue()
        self.state = MemoryStateStore()
        self.notifier = MemoryNotifier()
        self.rejections = MemoryRejectionLog()

    def accept(
        self,
        image: Image,
        *,
        action: Literal["push", "delete"] = "push",
        tag: str = "v1",
        event_id: str = "e-1",
    ) -> WorkItem:
        """The one item the intake enqueues for an event on team/app."""
        event = ImageEvent(
            event_id=event_id,
            action=action,
            registry=SRC,
            repository="team/app",
            digest=str(image.digest),
            tag=tag,
        )
        result = accept_event(
            event, RULES, queue=self.queue, state=self.state, gate=None, notifier=self.notifier
        )
        assert result.outcome == "enqueued"
        item = self.queue.take()
        assert item is not None and self.queue.take() is None
        return item

    def run(self, item: WorkItem) -> ItemOutcome:
        return process_item(
            item,
            self.registries,
            self.state,
            rules=self.rules,
            rejections=self.rejections,
            notifier=self.notifier,
        )

    @staticmethod
    def rules() -> RulesDocument:
        return RULES


@pytest.fixture
def worker() -> Worker:
    return Worker()


def push_app(worker: Worker) -> Image:
    return push_image(worker.registries.client(SRC), "team/app", "v1", [layer(1)])


def test_an_item_is_copied_recorded_and_its_job_announced_once(worker: Worker) -> None:
    image = push_app(worker)
    item = worker.accept(image)
    assert item.destination == f"{DST}/mirror/app:v1"
    outcome = worker.run(item)
    assert outcome.outcome == "done" and outcome.digest == str(image.digest)
    assert outcome.job_closed is not None and outcome.job_closed.status == "COMPLETE"
    assert outcome.job_closed.done == 1 and outcome.job_closed.bytes == outcome.bytes > 0
    head = worker.registries.client(DST).head_manifest("mirror/app", "v1")
    assert head is not None and head.digest == image.digest
    again = worker.run(item)
    assert again.outcome == "skipped" and again.reason == "duplicate" and again.job_closed is None
    assert [job.job_id for job in worker.notifier.finished] == [item.job_id]
    assert worker.rejections.rejected == []


def test_a_retryable_failure_releases_the_item_for_redelivery(worker: Worker) -> None:
    item = worker.accept(push_app(worker))
    worker.registries.client(SRC).faults.fail("get_manifest", Unavailable)
    with pytest.raises(Unavailable):
        worker.run(item)
    [record] = worker.state.list_items(item.job_id)
    assert record.status is ItemStatus.PENDING and record.error_kind == "unavailable"
    outcome = worker.run(item)
    assert outcome.outcome == "done" and worker.state.list_items(item.job_id)[0].attempts == 2


def test_a_permanent_failure_is_recorded_not_raised(worker: Worker) -> None:
    image = push_app(worker)
    worker.registries.client(SRC).delete_manifest("team/app", image.digest)
    item = worker.accept(image)
    outcome = worker.run(item)
    assert outcome.outcome == "failed" and outcome.error is not None
    assert outcome.error["error"] == "not_found"
    assert outcome.job_closed is not None and outcome.job_closed.status == "COMPLETED_WITH_ERRORS"
    [failure] = worker.state.failures(item.job_id)
    assert failure.error_kind == "not_found"


def test_an_image_already_at_the_destination_is_skipped(worker: Worker) -> None:
    item = worker.accept(push_app(worker))
    push_image(worker.registries.client(DST), "mirror/app", "v1", [layer(1)])
    assert worker.run(item).outcome == "skipped"
    job = worker.state.get_job(item.job_id)
    assert job is not None and (job.skipped, job.done) == (1, 0)


def test_a_delete_removes_only_the_image_that_was_replicated(worker: Worker) -> None:
    dst = worker.registries.client(DST)
    replicated = push_image(dst, "mirror/app", "v1", [layer(1)])
    moved = push_image(dst, "mirror/app", "v2", [layer(2)])
    gone, kept = (
        worker.accept(replicated, action="delete", tag=tag, event_id=f"del-{tag}")
        for tag in ("v1", "v2")
    )
    assert (gone.action, gone.destination) == ("delete", f"{DST}/mirror/app:v1")
    removed = worker.run(gone)
    assert removed.outcome == "done" and dst.head_manifest("mirror/app", "v1") is None
    assert removed.job_closed is not None and removed.job_closed.status == "COMPLETE"
    closed = worker.run(kept)
    assert closed.outcome == "skipped"  # v2 is another image: left alone
    head = dst.head_manifest("mirror/app", "v2")
    assert head is not None and head.digest == moved.digest
    assert closed.job_closed is not None and closed.job_closed.status == "COMPLETE"


def test_a_forged_item_is_rejected_recorded_and_never_claimed_or_copied(worker: Worker) -> None:
    image = push_app(worker)
    planned = worker.accept(image)
    unknown_job = planned.model_copy(update={"job_id": "evt-forged", "item_id": "forged-1"})
    elsewhere = planned.model_copy(
        update={"destination": "evil.test/loot/app:v1", "item_id": "forged-2"}
    )
    calls = {host: Counter(worker.registries.client(host).faults.calls) for host in (SRC, DST)}
    outcomes = [worker.run(unknown_job), worker.run(elsewhere)]
    assert [o.outcome for o in outcomes] == ["rejected", "rejected"]
    assert all(o.error is not None and o.error["error"] == "invalid_input" for o in outcomes)
    [(first, why_first), (second, why_second)] = worker.rejections.rejected
    assert first == unknown_job and "does not exist" in why_first
    assert second == elsewhere and "no current rule" in why_second
    # Never copied: no registry was called, the forged destination least of all.
    for host, before in calls.items():
        assert worker.registries.client(host).faults.calls == before, host
    assert sum(worker.registries.client("evil.test").faults.calls.values()) == 0
    # Never claimed or counted: the real job still waits for its one planned item.
    assert worker.state.get_job("evt-forged") is None
    assert worker.state.list_items("evt-forged") == []
    [record] = worker.state.list_items(planned.job_id)
    assert (record.item_id, record.status, record.attempts) == (
        planned.item_id,
        ItemStatus.PENDING,
        0,
    )
    job = worker.state.get_job(planned.job_id)
    assert job is not None and (job.total, job.done, job.failed) == (1, 0, 0)
    assert worker.run(planned).outcome == "done"  # the real item still runs
