"""A minimum-throughput floor: a registry that trickles bytes cannot hold a copy open.

A read deadline alone does not end a transfer that sends one byte every few seconds. The floor
counts the bytes moved against the time spent waiting for them (for a source: blocked reading;
for a destination: blocked writing), so one slow side is never blamed for the other's pace.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from freightliner.domain.errors import Timeout, Where
from freightliner.domain.registries import TransferLimits


class ThroughputFloor:
    """Raises `Timeout` once a window of waiting moved fewer bytes than the floor allows."""

    def __init__(
        self,
        limits: TransferLimits,
        where: Where,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._floor = limits.min_bytes_per_second
        self._window = limits.throughput_window
        self._where = where
        self._clock = clock
        self._bytes = 0
        self._waited = 0.0

    def record(self, count: int, waited: float) -> None:
        self._bytes += count
        self._waited += waited
        if self._waited < self._window:
            return
        if self._bytes < self._floor * self._waited:
            raise Timeout(
                f"transfer stalled: {self._bytes} bytes in {self._waited:.1f}s, below the floor"
                f" of {self._floor} bytes/s (limits.min_bytes_per_second)",
                self._where,
            )
        self._bytes, self._waited = 0, 0.0

    def reads(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """`chunks`, timing how long each took to arrive."""
        while True:
            started = self._clock()
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            self.record(len(chunk), self._clock() - started)
            yield chunk

    def writes(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        """`pieces` for a request body, timing how long the consumer took to send each."""
        for piece in pieces:
            started = self._clock()
            yield piece
            self.record(len(piece), self._clock() - started)
