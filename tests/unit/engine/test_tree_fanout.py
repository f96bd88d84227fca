"""A tree sync through the queue, in process: `start_tree` enqueues repositories, the worker
expands them into image items and copies those, the job closes once; `resume_job` sends
again what an interrupted job left."""

from __future__ import annotations

from typing import Any

import pytest

from freightliner.adapters.memory.metadata import MemoryMetadataCache
from freightliner.adapters.memory.registry import MemoryRegistries
from freightliner.domain.errors import NotFound, Unavailable
from freightliner.domain.rules import RulesDocument
from freightliner.domain.sync import SyncSpec
from freightliner.domain.work import TERMINAL
from freightliner.engine.jobs.resume import resume_job
from freightliner.engine.jobs.worker import ItemOutcome, process_item
from freightliner.engine.tree import fanout as tree_fanout
from freightliner.engine.tree.fanout import start_tree
from tests.support.memory_work import (
    MemoryNotifier,
    MemoryQueue,
    MemoryRejectionLog,
    MemoryStateStore,
)
from tests.support.oci_images import layer, push_image

SRC, DST = "src.test", "dst.test"
SPEC = SyncSpec.model_validate(
    {
        "name": "prod",
        "source": {"registry": SRC, "prefix": "prod"},
        "destination": {"registry": DST, "prefix": "mirror"},
    }
)


def no_rules() -> RulesDocument:
    """A tree job's items are checked against its stored definition: the rules are not read."""
    raise AssertionError("the worker loaded the rules for a tree job's item")


class Pipeline:
    """The queue, the state table, the notifier and the rejection log a deployment would have,
    in memory."""

    def __init__(self, registries: MemoryRegistries) -> None:
        self.registries = registries
        self.queue = MemoryQueue()
        self.state = MemoryStateStore()
        self.notifier = MemoryNotifier()
        self.rejections = MemoryRejectionLog()
        self.metadata: MemoryMetadataCache | None = None  # the state table's cache rows
        self.metadata_ttl = 3600.0

    def start(self, spec: SyncSpec = SPEC, *, verify: bool = False) -> str:
        job_id, closed = start_tree(
            spec,
            self.registries,
            queue=self.queue,
            state=self.state,
            notifier=self.notifier,
            verify=verify,
        )
        assert closed is None
        return job_id

    def drain(self, limit: int | None = None) -> list[ItemOutcome]:
        """Deliver queued items to the worker, as SQS would (retryable failures are
        redelivered); stop after `limit` deliveries."""
        outcomes: list[ItemOutcome] = []
        while (item := self.queue.take()) is not None:
            if limit is not None and len(outcomes) == limit:
                self.queue.items.insert(0, item)
                break
            try:
                outcomes.append(
                    process_item(
                        item,
                        self.registries,
                        self.state,
                        rules=no_rules,
                        rejections=self.rejections,
                        queue=self.queue,
                        notifier=self.notifier,
                        metadata=self.metadata,
                        metadata_ttl=self.metadata_ttl,
                    )
                )
            except Unavailable:
                self.queue.send([item])
        assert self.rejections.rejected == []  # every item is work of its tree job
        return outcomes

    def job(self, job_id: str) -> Any:
        job = self.state.get_job(job_id)
        assert job is not None
        return job


@pytest.fixture
def pipeline() -> Pipeline:
    registries = MemoryRegistries()
    src = registries.client(SRC)
    for n, repository in enumerate(["prod/api", "prod/web", "prod/worker", "dev/api"]):
        for tag in ("v1", "v2", "v3"):
            push_image(src, repository, tag, [layer(n * 10 + int(tag[1]))])
    return Pipeline(registries)


def test_a_tree_job_copies_every_image_and_closes_once(pipeline: Pipeline) -> None:
    push_image(pipeline.registries.client(DST), "mirror/web", "v1", [layer(11)])  # present
    job_id = pipeline.start()
    assert pipeline.job(job_id).repositories == 3 and len(pipeline.queue.items) == 3
    outcomes = pipeline.drain()
    job = pipeline.job(job_id)
    assert job.status == "COMPLETE" and job.finished_at is not None
    assert (job.total, job.done, job.skipped, job.repositories_done) == (9, 8, 1, 3)
    assert [o.job_closed is not None for o in outcomes].count(True) == 1
    assert [j.job_id for j in pipeline.notifier.finished] == [job_id]
    dst = pipeline.registries.client(DST)
    assert sorted(dst.catalog()) == ["mirror/api", "mirror/web", "mirror/worker"]


def test_a_noop_resync_decides_from_the_verified_tags_like_the_cli(pipeline: Pipeline) -> None:
    pipeline.metadata = MemoryMetadataCache()
    pipeline.start()
    pipeline.drain()
    dst = pipeline.registries.client(DST)
    before = sum(dst.faults.calls.values())
    again = pipeline.start()
    pipeline.drain()
    assert pipeline.job(again).skipped == 9
    assert sum(dst.faults.calls.values()) == before  # the copies' verified rows vouch
    verified = pipeline.start(verify=True)  # every image to the copier, which checks it
    outcomes = pipeline.drain()
    assert sum(1 for o in outcomes if o.reason == "up-to-date") == 9
    assert pipeline.job(verified).skipped == 9 and dst.faults.calls["head_manifest"] >= 9
    pipeline.metadata_ttl = 0  # expired: one HEAD per image (the tags list says present)
    heads = dst.faults.calls["head_manifest"]
    pipeline.start()
    pipeline.drain()
    assert dst.faults.calls["head_manifest"] - heads == 9


def test_a_large_repository_expands_a_page_per_item(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tree_fanout, "TAGS_PER_PAGE", 2)
    job_id = pipeline.start(SPEC.model_copy(update={"include": ["api"]}))
    outcomes = pipeline.drain()
    job = pipeline.job(job_id)
    assert job.status == "COMPLETE" and (job.total, job.done, job.repositories) == (3, 3, 1)
    assert job.repositories_done == 1
    assert sum(1 for o in outcomes if o.destination.endswith("mirror/api")) == 2  # two pages


def test_an_empty_tree_closes_at_once(pipeline: Pipeline) -> None:
    spec = SPEC.model_copy(update={"include": ["nothing-matches"]})
    job_id, closed = start_tree(
        spec, pipeline.registries, queue=pipeline.queue, state=pipeline.state
    )
    assert closed is not None and closed.status == "COMPLETE" and closed.repositories == 0
    assert pipeline.job(job_id).finished_at is not None


def test_retryable_registry_failures_are_redelivered_until_done(pipeline: Pipeline) -> None:
    src = pipeline.registries.client(SRC)
    src.faults.fail("list_tags", Unavailable)
    src.faults.fail("get_manifest", Unavailable, times=2, after=3)
    job_id = pipeline.start()
    pipeline.drain()
    job = pipeline.job(job_id)
    assert job.status == "COMPLETE" and (job.done, job.failed) == (9, 0)
    retried = [i for i in pipeline.state.list_items(job_id) if i.attempts > 1]
    assert len(retried) == 3  # one repository item, two image items
    assert all(i.attempts == 2 and i.status in TERMINAL for i in retried)


def test_resume_sends_again_what_an_interrupted_job_left(pipeline: Pipeline) -> None:
    job_id = pipeline.start()
    pipeline.drain(limit=5)
    pipeline.queue.items.clear()  # the queue lost them (purged, or expired)
    report = resume_job(
        job_id,
        pipeline.registries,
        queue=pipeline.queue,
        state=pipeline.state,
        notifier=pipeline.notifier,
    )
    assert report.resent == len(pipeline.queue.items) > 0 and not report.reenumerated
    pipeline.drain()
    job = pipeline.job(job_id)
    assert job.status == "COMPLETE" and (job.total, job.done) == (9, 9)
    assert [j.job_id for j in pipeline.notifier.finished] == [job_id]


def test_resume_can_retry_failed_items(pipeline: Pipeline) -> None:
    src = pipeline.registries.client(SRC)
    broken = src.get_manifest("prod/api", "v2").manifest.layers[0].parsed_digest
    original = src.get_blob("prod/api", broken)
    src.tamper_blob(broken, b"not the layer")
    job_id = pipeline.start()
    pipeline.drain()
    job = pipeline.job(job_id)
    assert job.status == "COMPLETED_WITH_ERRORS" and (job.done, job.failed) == (8, 1)
    src.tamper_blob(broken, original)
    unchanged = resume_job(job_id, pipeline.registries, queue=pipeline.queue, state=pipeline.state)
    assert unchanged.resent == 0
    report = resume_job(
        job_id,
        pipeline.registries,
        queue=pipeline.queue,
        state=pipeline.state,
        retry_failed=True,
    )
    assert report.resent == 1
    pipeline.drain()
    job = pipeline.job(job_id)
    assert job.status == "COMPLETE" and (job.done, job.failed) == (9, 0)


def test_resuming_an_unknown_job_is_not_found(pipeline: Pipeline) -> None:
    with pytest.raises(NotFound):
        resume_job("tree-nope", pipeline.registries, queue=pipeline.queue, state=pipeline.state)
