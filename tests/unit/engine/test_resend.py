"""`process_item` with `resending`, in process: items whose registry's circuit breaker is
open wait on the queue as new messages; retryable failures are re-sent with their attempt
count and give up after the budget; throttling and outages never spend it."""

from __future__ import annotations

import random

import pytest

from freightliner.adapters.memory.faults import Faults
from freightliner.adapters.memory.registry import OPERATIONS
from freightliner.domain.breaker import BreakerPolicy
from freightliner.domain.errors import ConfigurationError, RateLimited, Unavailable, Where
from freightliner.domain.work import ItemStatus, WorkItem
from freightliner.engine.jobs.circuit import Circuit
from freightliner.engine.jobs.resend import Resending
from freightliner.engine.jobs.worker import ItemOutcome, process_item
from tests.support.memory_breakers import MemoryBreakers
from tests.support.oci_images import layer, push_image
from tests.unit.engine.test_worker import DST, SRC, Worker


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class Pipeline(Worker):
    """The in-memory worker with the fleet's breakers and the re-send policy."""

    def __init__(self, max_attempts: int = 4, threshold: int = 3) -> None:
        super().__init__()
        self.clock = Clock()
        self.breakers = MemoryBreakers(self.clock)
        policy = BreakerPolicy(threshold=threshold, cool_down=60)
        circuit = Circuit(self.breakers, policy, self.clock, random.Random(3))
        self.resending = Resending(
            self.queue, circuit, backoff=lambda n: 30 * 2 ** (n - 1), max_attempts=max_attempts
        )

    def run(self, item: WorkItem) -> ItemOutcome:
        return process_item(
            item,
            self.registries,
            self.state,
            rules=self.rules,
            rejections=self.rejections,
            queue=self.queue,
            notifier=self.notifier,
            resending=self.resending,
        )

    def items(self, count: int) -> list[WorkItem]:
        src = self.registries.client(SRC)
        images = [push_image(src, "team/app", f"v{n}", [layer(n)]) for n in range(count)]
        return [
            self.accept(image, tag=f"v{n}", event_id=f"e-{n}") for n, image in enumerate(images)
        ]

    def drain(self) -> list[ItemOutcome]:
        """Run what is on the queue now (what they send again waits for the next round)."""
        batch, self.queue.items = self.queue.items, []
        return [self.run(item) for item in batch]


@pytest.fixture
def pipeline() -> Pipeline:
    return Pipeline()


def test_a_destination_outage_is_waited_out_without_spending_attempts(
    pipeline: Pipeline,
) -> None:
    items = pipeline.items(6)
    dst = pipeline.registries.client(DST)
    dst.faults.fail("head_manifest", Unavailable, times=10_000)
    first = [pipeline.run(item) for item in items]
    # three failures in a row open the breaker; the rest wait without being tried
    assert [o.outcome for o in first] == ["retried"] * 3 + ["deferred"] * 3
    assert [o.attempt for o in first] == [1, 1, 0, 0, 0, 0]  # the opening one is uncounted
    assert [o.breaker_opened for o in first] == [None, None, DST, None, None, None]
    assert {o.waiting_on for o in first[2:]} == {DST}
    assert all(48 <= o.delay <= 72 for o in first[2:])
    assert dst.faults.calls["head_manifest"] == 3
    requeued = [item for item, _ in pipeline.queue.requeued]
    assert [i.item_id for i in requeued] == [i.item_id for i in items]  # the same work
    assert [r.status for r in pipeline.state.list_items(items[0].job_id)] == [ItemStatus.PENDING]

    # A long outage: every cool-down one probe fails, every other item keeps waiting.
    for _ in range(20):
        pipeline.clock.now += 80
        outcomes = pipeline.drain()
        assert sorted(o.outcome for o in outcomes) == ["deferred"] * 5 + ["retried"]
    assert dst.faults.calls["head_manifest"] == 3 + 20
    assert all(item.attempt <= 1 for item in pipeline.queue.items)

    # It comes back: the next probe closes the breaker and every item is copied.
    dst.faults = Faults(OPERATIONS)  # no more failures scheduled
    pipeline.clock.now += 80
    last = pipeline.drain()
    assert sorted(o.outcome for o in last) == ["done"] * 6
    assert pipeline.breakers.open_breakers() == []
    for n, item in enumerate(items):
        job = pipeline.state.get_job(item.job_id)
        assert job is not None and (job.status, job.done, job.failed) == ("COMPLETE", 1, 0)
        head = dst.head_manifest("mirror/app", f"v{n}")
        assert head is not None and item.source.endswith(str(head.digest))


def test_a_failure_that_keeps_coming_alone_gives_up_after_the_budget() -> None:
    pipeline = Pipeline(threshold=10)  # the rest of the host's traffic succeeds: no outage
    [item, healthy] = pipeline.items(2)
    src = pipeline.registries.client(SRC)
    digest = item.source.rsplit("@", 1)[1]
    original = src.get_manifest

    def get_manifest(repository: str, reference: str) -> object:
        if reference == digest:  # only this image's manifest fails
            raise Unavailable("registry error HTTP 500", Where(SRC, repository, reference))
        return original(repository, reference)

    src.get_manifest = get_manifest  # type: ignore[method-assign,assignment]
    outcomes = [pipeline.run(healthy)]
    for _ in range(10):
        outcomes += pipeline.drain() or [pipeline.run(item)]
        if outcomes[-1].outcome == "failed":
            break
    tried = [o for o in outcomes if o.item_id == item.item_id]
    assert [o.outcome for o in tried] == ["retried"] * 3 + ["failed"]
    assert [o.attempt for o in tried] == [1, 2, 3, 4]
    assert [d for _, d in pipeline.queue.requeued] == [30, 60, 120]
    [failure] = pipeline.state.failures(item.job_id)
    assert failure.last_error is not None
    assert failure.last_error.startswith("gave up after 4 attempts")
    job = pipeline.state.get_job(item.job_id)
    assert job is not None and job.status == "COMPLETED_WITH_ERRORS"
    assert pipeline.breakers.open_breakers() == []


def test_throttling_is_re_sent_after_retry_after_and_never_spends_attempts() -> None:
    pipeline = Pipeline(max_attempts=2)
    [item] = pipeline.items(1)

    def throttled(where: Where) -> RateLimited:
        return RateLimited("rate limited (HTTP 429)", where, retry_after=200)

    pipeline.registries.client(SRC).faults.fail("get_manifest", throttled, times=2)
    outcomes = [pipeline.run(item), *pipeline.drain(), *pipeline.drain()]
    # 429s count against the host's breaker (threshold 3) but not against the item
    assert [(o.outcome, o.attempt) for o in outcomes] == [("retried", 0)] * 2 + [("done", 0)]
    assert [d for _, d in pipeline.queue.requeued] == [200, 200]


def test_state_table_failures_before_the_claim_are_re_sent(pipeline: Pipeline) -> None:
    [item] = pipeline.items(1)
    get_job = pipeline.state.get_job
    calls = []

    def throttled(job_id: str) -> object:
        calls.append(job_id)
        if len(calls) == 1:
            raise RateLimited("dynamodb:GetItem failed: ThrottlingException", Where("dynamodb:t"))
        return get_job(job_id)

    pipeline.state.get_job = throttled  # type: ignore[method-assign,assignment]
    outcomes = [pipeline.run(item), *pipeline.drain()]
    assert [(o.outcome, o.attempt) for o in outcomes] == [("retried", 0), ("done", 0)]
    assert pipeline.breakers.records == {}  # the table is no registry: no breaker


def test_configuration_errors_still_raise_for_the_dlq(pipeline: Pipeline) -> None:
    [item] = pipeline.items(1)

    def misconfigured(where: Where) -> ConfigurationError:
        return ConfigurationError("FREIGHTLINER_X is not set")

    pipeline.registries.client(SRC).faults.fail("get_manifest", misconfigured)
    with pytest.raises(ConfigurationError):
        pipeline.run(item)
    assert pipeline.queue.requeued == []
    [record] = pipeline.state.list_items(item.job_id)
    assert record.status is ItemStatus.PENDING  # released for the redelivery
