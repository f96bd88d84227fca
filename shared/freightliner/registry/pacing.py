"""Pacing per registry host: a request rate (token bucket) and a concurrency limit per host and
operation class, backed off for the whole host when the registry says 429 and recovered
gradually (AIMD), so a tree sync stays inside the quota a registry publishes instead of
spending it and everyone else's, one throttled request at a time.

Fleet arithmetic. The registries config gives a host's budget for the whole fleet: R requests
per second, burst B, C requests in flight (defaults: the published quotas, `domain.quotas`).
N processes talk to the host at once at most (the replicate function's maximum concurrency,
FREIGHTLINER_FLEET_SIZE); each one paces itself to its share, R/N per second, a burst of
max(1, B/N) and max(1, C/N) in flight, so that together they stay within R, B and C: N x R/N =
R. Threads of one process (the copies of a job, the blobs of a copy) share the process's
pacer, so they share its share. Example: ECR's PutImage quota of 10/s with the default
ReplicateConcurrency of 20 gives each replicate instance one manifest write every 2 s.

AIMD. Every budget's rate is the configured rate times the host's factor f (1 at start).
A 429 from the host halves f (multiplicative decrease, down to `FLOOR`), and if it carried
Retry-After no request to that host leaves this process until that time has passed; f then
grows back by `RECOVERY_PER_SECOND` per second without a 429 (additive increase) until it is
1 again. Requests that were already sent when f was cut do not cut it again, so one burst of
429s counts as one signal. A host with no configured rate still honours Retry-After as a host.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from freightliner.domain.errors import RateLimited, Where
from freightliner.domain.quotas import OperationClass, Pace, PaceScope, Pacing, scopes_of

log = logging.getLogger(__name__)

DECREASE = 0.5
"""The factor f is multiplied by on a 429."""
FLOOR = 1 / 64
"""f never goes below this: a budget throttled down is slowed, never stopped."""
RECOVERY_PER_SECOND = 0.05
"""What f regains per second without a 429: from 1/2 back to 1 in 10 s."""
LAMBDA_MAX_WAIT = 30.0
"""In a function, a request that would wait longer than this for its budget is not queued:
it fails as RateLimited with that wait as its Retry-After, so the retry policy (or the work
queue's redelivery) carries the wait instead of an invocation running out its time. The CLI
waits as long as the budget says (`max_wait` infinite)."""
MAX_BLOCK = 60.0
"""The longest Retry-After that holds the whole host (the per-request policy's cap too)."""


def fleet_share(pace: Pace, fleet_size: int) -> Pace:
    """One process's part of a fleet-wide budget: rate/N, burst and concurrency /N (at least
    one each)."""
    if fleet_size <= 1:
        return pace
    return Pace(
        rate=pace.rate / fleet_size if pace.rate is not None else None,
        burst=max(1, pace.burst_size() // fleet_size) if pace.rate is not None else None,
        concurrency=(
            max(1, pace.concurrency // fleet_size) if pace.concurrency is not None else None
        ),
    )


def operation_class(method: str, path: str) -> OperationClass:
    """How the registry meters a request, from its method and URL path."""
    writes = method in ("POST", "PATCH", "PUT", "DELETE")
    if "/manifests/" in path:
        if writes:
            return OperationClass.MANIFEST_WRITE
        return OperationClass.MANIFEST_PULL if method == "GET" else OperationClass.READ
    return OperationClass.BLOB_UPLOAD if writes else OperationClass.READ


class TokenBucket:
    """A rate with a burst, kept as the generic cell rate algorithm's theoretical arrival
    time: `reserve` says how long the caller must wait and books its slot (callers that wait
    queue up in order). Not locked: the host pacer holds its lock around it."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tat = -math.inf

    def wait(self, now: float, factor: float) -> float:
        """Seconds until a request may go at `rate * factor`, booking nothing."""
        interval = 1.0 / (self.rate * factor)
        arrival = max(self._tat, now)
        return max(0.0, arrival - (self.burst - 1) * interval - now)

    def reserve(self, now: float, factor: float) -> float:
        """Book the next slot; seconds until it comes."""
        waiting = self.wait(now, factor)
        self._tat = max(self._tat, now) + 1.0 / (self.rate * factor)
        return waiting


@dataclass(frozen=True, slots=True)
class Permit:
    """A request let through: when, so a 429 it meets knows whether the budget was cut
    since."""

    admitted: float


class HostPacer:
    """Every budget of one registry host in this process; thread-safe, shared by every
    request the host's client makes."""

    def __init__(
        self,
        host: str,
        pacing: Pacing | None = None,
        fleet_size: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = math.inf,
    ) -> None:
        self.host = host
        self._clock = clock
        self._sleep = sleep
        self._max_wait = max_wait
        self._lock = threading.Lock()
        self._buckets: dict[PaceScope, TokenBucket] = {}
        self._slots: dict[PaceScope, threading.BoundedSemaphore] = {}
        for scope, configured in (pacing or {}).items():
            pace = fleet_share(configured, fleet_size)
            if pace.rate is not None:
                self._buckets[scope] = TokenBucket(pace.rate, pace.burst_size())
            if pace.concurrency is not None:
                self._slots[scope] = threading.BoundedSemaphore(pace.concurrency)
        self._factor = 1.0
        self._factor_at = clock()
        self._blocked_until = -math.inf
        self._last_cut = -math.inf
        self.throttled_count = 0
        """429s this host answered (every one, whether or not it cut the budget)."""
        self.cuts = 0
        """How often the budget was cut."""

    def rate(self, scope: PaceScope) -> float | None:
        """The current rate of one budget in requests per second (after AIMD)."""
        bucket = self._buckets.get(scope)
        if bucket is None:
            return None
        with self._lock:
            return bucket.rate * self._current_factor(self._clock())

    def factor(self) -> float:
        with self._lock:
            return self._current_factor(self._clock())

    def _current_factor(self, now: float) -> float:
        """f with its additive recovery since it was last looked at (the caller locks)."""
        self._factor = min(1.0, self._factor + RECOVERY_PER_SECOND * (now - self._factor_at))
        self._factor_at = now
        return self._factor

    @contextlib.contextmanager
    def permit(self, operation: OperationClass, where: Where) -> Iterator[Permit]:
        """Hold a request until its budgets allow it; the concurrency slots it takes are
        released when the block ends (after the response body was read)."""
        scopes = scopes_of(operation)
        with contextlib.ExitStack() as held:
            for scope in scopes:  # always in the same order: no two requests deadlock
                slot = self._slots.get(scope)
                if slot is not None:
                    slot.acquire()
                    held.callback(slot.release)
            admitted = self._admit(scopes, where)
            yield Permit(admitted)

    def _admit(self, scopes: tuple[PaceScope, ...], where: Where) -> float:
        buckets = [self._buckets[s] for s in scopes if s in self._buckets]
        while True:
            with self._lock:
                now = self._clock()
                blocked = self._blocked_until - now
                if blocked <= 0:
                    factor = self._current_factor(now)
                    waiting = max((b.wait(now, factor) for b in buckets), default=0.0)
                    if waiting > self._max_wait:
                        raise RateLimited(
                            f"this process's request budget for {self.host} is spent for the "
                            f"next {waiting:.0f} s (pacing)",
                            where,
                            retry_after=waiting,
                        )
                    for bucket in buckets:
                        bucket.reserve(now, factor)
                    break
            if blocked > self._max_wait:
                raise RateLimited(
                    f"{self.host} asked for a pause of {blocked:.0f} more seconds",
                    where,
                    retry_after=blocked,
                )
            self._sleep(blocked)
        if waiting > 0:
            self._sleep(waiting)
        return now + waiting

    def throttled(self, permit: Permit, retry_after: float | None) -> None:
        """The host answered 429 to a request let through by `permit`: cut the host's budget
        (once per signal) and hold every request to it for Retry-After."""
        with self._lock:
            now = self._clock()
            self.throttled_count += 1
            if retry_after is not None and retry_after > 0:
                self._blocked_until = max(self._blocked_until, now + min(retry_after, MAX_BLOCK))
            if permit.admitted <= self._last_cut:
                return  # sent before the last cut: the same signal
            factor = self._current_factor(now)
            self._factor = max(FLOOR, factor * DECREASE)
            self._last_cut = now
            self.cuts += 1
            cut_to = self._factor
        log.warning(
            "%s answered 429: its request budget is cut to %.0f%% of the configured rate%s",
            self.host,
            cut_to * 100,
            f" and held for {retry_after:.1f} s" if retry_after else "",
        )
