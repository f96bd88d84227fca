"""The throughput floor judges each side by the time spent waiting on it (fake clock)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from freightliner.domain.errors import Timeout, Where
from freightliner.domain.registries import TransferLimits
from freightliner.registry.throughput import ThroughputFloor

LIMITS = TransferLimits(min_bytes_per_second=1000, throughput_window=10.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def arriving(clock: Clock, pieces: list[tuple[float, bytes]]) -> Iterator[bytes]:
    """Chunks that each take `delay` seconds to arrive."""
    for delay, piece in pieces:
        clock.now += delay
        yield piece


def test_a_source_trickling_below_the_floor_stalls_after_a_window() -> None:
    clock = Clock()
    floor = ThroughputFloor(LIMITS, Where("src.example", "team/app", "", "GET blob"), clock)
    chunks = floor.reads(arriving(clock, [(3.0, b"x")] * 10))
    with pytest.raises(Timeout, match=r"stalled: 4 bytes in 12\.0s") as info:
        list(chunks)
    assert "GET blob src.example/team/app" in str(info.value)


def test_a_fast_source_and_a_disabled_floor_pass() -> None:
    clock = Clock()
    fast = ThroughputFloor(LIMITS, Where(), clock)
    assert len(list(fast.reads(arriving(clock, [(1.0, b"x" * 2000)] * 30)))) == 30
    off = ThroughputFloor(TransferLimits(min_bytes_per_second=0), Where(), clock)
    assert list(off.reads(arriving(clock, [(60.0, b"x")] * 3))) == [b"x"] * 3


def test_writes_count_the_consumer_time_not_the_producer_time() -> None:
    clock = Clock()
    floor = ThroughputFloor(LIMITS, Where(operation="PUT blob"), clock)
    slow_source = arriving(clock, [(30.0, b"x")] * 3)  # the source's slowness is not ours
    sent = list(floor.writes(slow_source))
    assert sent == [b"x"] * 3
    stuck = floor.writes(iter([b"y"] * 5))
    with pytest.raises(Timeout, match="stalled"):
        for _piece in stuck:
            clock.now += 4.0  # the destination takes 4 s to accept each byte
