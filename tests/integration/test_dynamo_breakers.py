"""The Breakers port on DynamoDB (moto server): two workers sharing one record agree on who
opened, probed and closed it, records are listed through the index and expire."""

from __future__ import annotations

import boto3
import pytest

from freightliner.adapters.aws.dynamo_breakers import KEEP_SECONDS, DynamoBreakers
from freightliner.adapters.aws.table_schema import TABLE_DEFINITION
from freightliner.domain.breaker import BreakerPolicy, BreakerState
from freightliner.domain.errors import Unavailable, Where
from freightliner.engine.jobs.circuit import Circuit

HOST = "us-docker.pkg.dev"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def table(moto_endpoint: str) -> object:
    dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
    dynamodb.meta.client.create_table(TableName="state", **TABLE_DEFINITION)
    return dynamodb.Table("state")


def test_two_workers_share_one_breaker(table: object) -> None:
    clock = Clock()
    one, two = DynamoBreakers(table, clock), DynamoBreakers(table, clock)
    assert one.get(HOST).state(clock.now) is BreakerState.CLOSED
    assert [one.count_failure(HOST).failures, two.count_failure(HOST).failures] == [1, 2]
    until = clock.now + 60.5
    assert one.open(HOST, until, seen_open_until=0.0) is True
    assert two.open(HOST, until + 3, seen_open_until=0.0) is False  # opened once
    record = two.get(HOST)
    assert record.state(clock.now) is BreakerState.OPEN and record.open_until == until
    assert record.opened_at == clock.now
    assert [r.host for r in one.open_breakers()] == [HOST]
    assert one.take_probe(HOST, clock.now, clock.now + 60) is False  # still cooling down

    clock.now = until + 1
    assert one.take_probe(HOST, clock.now, clock.now + 30) is True
    assert two.take_probe(HOST, clock.now, clock.now + 30) is False  # one probe
    began = record.opened_at
    clock.now += 5  # the probe failed: reopened, the outage's start kept
    assert two.open(HOST, clock.now + 60, seen_open_until=until) is True
    assert one.get(HOST).opened_at == began and one.get(HOST).probe_until == 0

    assert one.close(HOST) is True
    assert two.close(HOST) is False  # closed by the first
    closed = one.get(HOST)
    assert (closed.failures, closed.open_until, one.open_breakers()) == (0, 0.0, [])
    raw = table.get_item(Key={"PK": f"BREAKER#{HOST}", "SK": "BREAKER"})["Item"]  # type: ignore[attr-defined]
    assert int(raw["expires_at"]) == int(clock.now + KEEP_SECONDS)


def test_a_fleet_of_circuits_opens_it_once(table: object, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    policy = BreakerPolicy(threshold=4, cool_down=60)
    fleet = [Circuit(DynamoBreakers(table, clock), policy, clock) for _ in range(3)]
    failure = Unavailable("registry error HTTP 503", Where(HOST, "r", "v1", "PUT manifest"))
    results = [fleet[n % 3].failed(failure, (HOST,)) for n in range(6)]
    assert [r.opened for r in results].count(HOST) == 1
    assert [r.outage for r in results] == [False] * 3 + [True] * 3
    assert all(c.admit((HOST,)).waiting_on == HOST for c in fleet)
    opened = [r for r in caplog.records if "opened" in r.getMessage()]
    assert len(opened) == 1
