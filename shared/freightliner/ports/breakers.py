"""The port to the fleet's shared circuit breakers, one record per registry host (rules in
`freightliner.domain.breaker`). Every write is atomic on the record, so concurrent workers
agree on who opened, probed and closed it."""

from __future__ import annotations

from typing import Protocol

from freightliner.domain.breaker import BreakerRecord


class Breakers(Protocol):
    def get(self, host: str) -> BreakerRecord:
        """The host's record; a closed one with no failures when there is none."""
        ...

    def count_failure(self, host: str) -> BreakerRecord:
        """One more unavailability failure in the run; the record after it."""
        ...

    def open(self, host: str, until: float, seen_open_until: float) -> bool:
        """Open it until `until`, only if its `open_until` is still `seen_open_until` (what
        the caller's decision read): True for the one worker whose write opened it."""
        ...

    def take_probe(self, host: str, now: float, lease_until: float) -> bool:
        """Hold the half-open breaker's probe until `lease_until`, if nobody holds it: True
        for the one worker that may try the host."""
        ...

    def close(self, host: str) -> bool:
        """The host answered: end the run and close it. True when this call closed an open
        (or half-open) breaker."""
        ...

    def open_breakers(self) -> list[BreakerRecord]:
        """Every breaker not closed (open, or half-open waiting for its probe)."""
        ...
