"""The circuit-breaker rules (domain/breaker.py) and the circuit over a shared record
(engine/jobs/circuit.py), on the in-memory Breakers port with a hand-moved clock."""

from __future__ import annotations

import logging
import random

import pytest

from freightliner.cli.job_views import JobView, breaker_waits, render_status
from freightliner.domain.breaker import BreakerPolicy, BreakerRecord, BreakerState, counts_against
from freightliner.domain.errors import (
    DigestMismatch,
    NotFound,
    RateLimited,
    Timeout,
    Unavailable,
    Where,
)
from freightliner.domain.work import ItemStatus
from freightliner.engine.jobs.circuit import Circuit
from freightliner.engine.jobs.resend import MAX_DELAY, delay_seconds
from freightliner.ports.work import ItemRecord
from tests.support.memory_breakers import MemoryBreakers

HOST, OTHER = "dst.test", "src.test"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def down(host: str = HOST) -> Unavailable:
    return Unavailable("registry error HTTP 503", Where(host, "r", "v1", "PUT manifest"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def circuit(clock: Clock) -> Circuit:
    policy = BreakerPolicy(threshold=3, cool_down=60, jitter=0.2)
    return Circuit(MemoryBreakers(clock), policy, clock, random.Random(7))


def test_only_unavailability_of_the_items_own_hosts_counts() -> None:
    hosts = (OTHER, HOST)
    assert counts_against(down(), hosts) == HOST
    assert counts_against(Timeout("t", Where(OTHER)), hosts) == OTHER
    assert counts_against(RateLimited("429", Where(HOST)), hosts) == HOST
    assert counts_against(NotFound("gone", Where(HOST)), hosts) is None
    assert counts_against(DigestMismatch("bad", Where(HOST)), hosts) is None
    assert counts_against(RateLimited("throttled", Where("dynamodb:t")), hosts) is None
    assert counts_against(Unavailable("reset", Where()), hosts) is None


def test_record_states_and_cool_down_jitter() -> None:
    record = BreakerRecord(host=HOST, failures=3, open_until=100.0, probe_until=0.0)
    assert BreakerRecord(host=HOST).state(50) is BreakerState.CLOSED
    assert record.state(99.9) is BreakerState.OPEN and not record.probe_free(99.9)
    assert record.state(100) is BreakerState.HALF_OPEN and record.probe_free(100)
    held = record.model_copy(update={"probe_until": 130.0})
    assert not held.probe_free(110) and held.waits_until(110) == 130.0
    policy = BreakerPolicy(cool_down=100, jitter=0.25)
    spread = [policy.open_for(random.Random(n)) for n in range(200)]
    assert 75 <= min(spread) < 90 and 110 < max(spread) <= 125


def test_a_run_of_failures_opens_it_once_and_a_success_ends_the_run(
    circuit: Circuit, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    hosts = (OTHER, HOST)
    assert not circuit.failed(down(), hosts).outage
    assert not circuit.failed(down(), hosts).outage
    circuit.answered(circuit.admit(hosts), hosts)  # an answer ends the run
    assert circuit.admit(hosts).wait == 0
    with caplog.at_level(logging.INFO, logger="freightliner.engine.jobs.circuit"):
        failures = [circuit.failed(down(), hosts) for _ in range(4)]
    assert [f.outage for f in failures] == [False, False, True, True]
    assert [f.opened for f in failures] == [None, None, HOST, None]  # opened once
    opened = [r for r in caplog.records if "opened" in r.getMessage()]
    assert len(opened) == 1 and opened[0].levelno == logging.WARNING
    assert HOST in opened[0].getMessage()
    admission = circuit.admit(hosts)
    assert admission.waiting_on == HOST and 48 <= admission.wait <= 72
    assert failures[2].wait == pytest.approx(admission.wait)


def test_after_the_cool_down_one_probe_runs_and_closes_it(
    circuit: Circuit, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    hosts = (HOST,)
    for _ in range(3):
        circuit.failed(down(), hosts)
    clock.now += 73  # past any jittered cool-down
    probe = circuit.admit(hosts)
    assert probe.wait == 0
    other = circuit.admit(hosts)  # everyone else waits for the probe's lease
    assert other.waiting_on == HOST and other.wait == pytest.approx(60)
    caplog.clear()
    # the probe fails: open for another cool-down, without a second "opened" line
    with caplog.at_level(logging.INFO, logger="freightliner.engine.jobs.circuit"):
        again = circuit.failed(down(), hosts)
        assert again.outage and again.opened is None
        assert circuit.admit(hosts).wait > 40
        clock.now += 73
        probe = circuit.admit(hosts)
        assert probe.wait == 0
        circuit.answered(probe, hosts)
    assert circuit.admit(hosts).wait == 0
    lines = [r.getMessage() for r in caplog.records]
    assert not any("opened" in line for line in lines)
    [closed] = [r for r in caplog.records if "closed" in r.getMessage()]
    assert closed.levelno == logging.INFO and HOST in closed.getMessage()
    assert "down 146 s" in closed.getMessage()  # from the first opening, not the reopening


def test_a_closed_breaker_without_a_run_costs_no_write(clock: Clock) -> None:
    breakers = MemoryBreakers(clock)
    circuit = Circuit(breakers, BreakerPolicy(), clock)
    circuit.answered(circuit.admit((HOST,)), (HOST,))
    assert breakers.records == {}


def test_queue_delays_are_whole_seconds_within_sqs_limits() -> None:
    assert [delay_seconds(s) for s in (0, 0.2, 1.0, 1.01, 899.5, 5000)] == [1, 1, 1, 2, 900, 900]
    assert MAX_DELAY == 900


def test_jobs_status_counts_the_unfinished_items_waiting_on_each_open_breaker() -> None:
    def record(n: int, status: ItemStatus, destination: str) -> ItemRecord:
        return ItemRecord(
            job_id="j",
            item_id=f"i{n}",
            status=status,
            source=f"{OTHER}/team/app@sha256:{'a' * 64}",
            destination=destination,
            source_digest=f"sha256:{'a' * 64}",
        )

    items = [
        record(1, ItemStatus.PENDING, f"{HOST}/m/app:v1"),
        record(2, ItemStatus.RUNNING, f"{HOST}/m/app:v2"),
        record(3, ItemStatus.DONE, f"{HOST}/m/app:v3"),
        record(4, ItemStatus.PENDING, "elsewhere.test/m/app:v4"),
    ]
    breakers = [BreakerRecord(host=HOST, failures=5, open_until=1060.0, opened_at=1000.0)]
    [wait] = breaker_waits(items, breakers, now=1030.0)
    assert (wait.host, wait.items, wait.state) == (HOST, 2, BreakerState.OPEN)
    view = JobView(
        job_id="j",
        kind="tree",
        status="RUNNING",
        name="n",
        created_at=1000.0,
        images=4,
        store="aws",
        waiting=[wait],
    )
    assert f"WAITING 2 items on the open circuit breaker of {HOST} (open" in render_status(view)
    assert breaker_waits(items, [BreakerRecord(host="idle.test", open_until=1.0)], 5.0) == []
