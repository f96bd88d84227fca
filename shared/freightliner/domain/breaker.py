"""Circuit-breaker rules per registry host, shared by every worker of the fleet.

A run of `threshold` unavailability failures against one host (5xx, connection errors,
timeouts, 429s that outlasted the client's own retries) opens the host's breaker for a
cool-down with jitter; while it is open no item that reads or writes that host is attempted:
it waits on the queue. When the cool-down ends one worker takes the probe (a lease, so a
crashed prober is replaced) and runs its item: success closes the breaker, another
unavailability failure opens it for another cool-down. Any answer from the host that is not
an unavailability (a success, a 404, a 401) ends the run. Only these rules live here; the
record is shared through the `Breakers` port (the state table in the pipeline).
"""

from __future__ import annotations

import random
from collections.abc import Collection
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from freightliner.domain.errors import FreightlinerError, RateLimited, Timeout, Unavailable

UNAVAILABILITY = (Unavailable, Timeout, RateLimited)
"""The failures that say a host is down or drowning, not that the request was wrong."""


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"  # the cool-down is over: one probe may run


class BreakerPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: int = Field(default=5, ge=1, description="failures in a row that open it")
    cool_down: float = Field(default=60.0, gt=0, description="seconds it stays open")
    jitter: float = Field(default=0.2, ge=0, lt=1, description="cool-down spread, +/- fraction")

    def open_for(self, rng: random.Random | None = None) -> float:
        """One cool-down, spread so a fleet's deferred items do not return all at once."""
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return self.cool_down * (1 + spread)


class BreakerRecord(BaseModel):
    """One host's shared breaker. `open_until` 0 means closed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    failures: int = Field(default=0, ge=0, description="unavailability failures in a row")
    open_until: float = 0.0
    probe_until: float = Field(default=0.0, description="the probe's lease ends then")
    opened_at: float = 0.0

    def state(self, now: float) -> BreakerState:
        if not self.open_until:
            return BreakerState.CLOSED
        return BreakerState.OPEN if now < self.open_until else BreakerState.HALF_OPEN

    def probe_free(self, now: float) -> bool:
        """Half-open and nobody holds the probe."""
        return self.state(now) is BreakerState.HALF_OPEN and self.probe_until <= now

    def waits_until(self, now: float) -> float:
        """When an item deferred now should come back: the cool-down's end, or the current
        probe's lease end when the cool-down is over."""
        return max(self.open_until, self.probe_until, now)

    def trips(self, policy: BreakerPolicy, now: float) -> bool:
        """After a failure was counted: this record should open (or, half-open, reopen)."""
        state = self.state(now)
        if state is BreakerState.HALF_OPEN:
            return True  # the probe (or an item admitted before it opened) failed
        return state is BreakerState.CLOSED and self.failures >= policy.threshold


def counts_against(error: FreightlinerError, hosts: Collection[str]) -> str | None:
    """Which of an item's registry `hosts` an unavailability failure counts against; None
    when the error is not one, or names another party (the state table's own throttling has
    no breaker: its row would live in the throttled table)."""
    if not isinstance(error, UNAVAILABILITY):
        return None
    return error.where.registry if error.where.registry in hosts else None
