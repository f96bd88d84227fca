"""The fleet's circuit breakers applied to one work item: whether its registries may be
tried now, and what its outcome tells the breakers (rules in `freightliner.domain.breaker`,
records shared through the `Breakers` port).

One log line when a breaker opens (WARNING) and one when it closes (INFO), both naming the
host: whichever worker's write did it logs it, so the fleet logs each once. Probes in
between log at DEBUG.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from freightliner.domain.breaker import BreakerPolicy, BreakerRecord, BreakerState, counts_against
from freightliner.domain.errors import FreightlinerError
from freightliner.ports.breakers import Breakers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Admission:
    """What the breakers said about an item's hosts: `wait` seconds (0: try it now), the
    host it waits on, and the records read (to know whether its outcome must be written)."""

    wait: float = 0.0
    waiting_on: str | None = None
    seen: dict[str, BreakerRecord] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """What a failure meant to the breakers: `outage` when its host's breaker is open (the
    item waits `wait` seconds, its attempt uncounted); `opened` names the host whose breaker
    this failure opened."""

    outage: bool = False
    wait: float = 0.0
    opened: str | None = None


class Circuit:
    def __init__(
        self,
        breakers: Breakers,
        policy: BreakerPolicy,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._breakers = breakers
        self.policy = policy
        self._clock = clock
        self._rng = rng or random.Random()

    def admit(self, hosts: Sequence[str]) -> Admission:
        """May an item using `hosts` run now? A half-open host admits the one worker that
        takes its probe; every other item waits for the cool-down (or the probe) to end."""
        now = self._clock()
        seen = {host: self._breakers.get(host) for host in hosts}
        for host, record in seen.items():
            state = record.state(now)
            if state is BreakerState.CLOSED:
                continue
            until = record.waits_until(now)
            if state is BreakerState.HALF_OPEN and record.probe_free(now):
                until = now + self.policy.cool_down  # the probe's lease
                if self._breakers.take_probe(host, now, until):
                    log.debug("circuit breaker for %s: probing whether it is back", host)
                    continue
            return Admission(until - now, host, seen)
        return Admission(seen=seen)

    def answered(self, admission: Admission, hosts: Sequence[str]) -> None:
        """`hosts` answered the item (success, or a refusal that is not unavailability): the
        run of failures ends and an open breaker closes. Writes only what has a run."""
        for host in hosts:
            record = admission.seen.get(host)
            if record is None or not (record.failures or record.open_until):
                continue
            if self._breakers.close(host):
                down = self._clock() - record.opened_at if record.opened_at else 0.0
                log.info(
                    "circuit breaker for %s closed: it answers again (down %.0f s)", host, down
                )

    def failed(self, error: FreightlinerError, hosts: Sequence[str]) -> Failure:
        """Count an unavailability failure against the host it names; open its breaker when
        the run is long enough (or the probe failed)."""
        host = counts_against(error, hosts)
        if host is None:
            return Failure()
        record = self._breakers.count_failure(host)
        now = self._clock()
        if not record.trips(self.policy, now):
            if record.state(now) is BreakerState.CLOSED:
                return Failure()
            return Failure(outage=True, wait=record.waits_until(now) - now)
        cool_down = self.policy.open_for(self._rng)
        if not self._breakers.open(host, now + cool_down, record.open_until):
            return Failure(outage=True, wait=cool_down)  # another worker opened it first
        if record.state(now) is BreakerState.HALF_OPEN:  # outage mode logged once, at its start
            log.debug(
                "circuit breaker for %s: still down (%s); open %.0f s more",
                host,
                error.kind,
                cool_down,
            )
            return Failure(outage=True, wait=cool_down)
        log.warning(
            "circuit breaker for %s opened after %d unavailability failures in a row (%s); "
            "its items wait %.0f s",
            host,
            record.failures,
            error.kind,
            cool_down,
        )
        return Failure(outage=True, wait=cool_down, opened=host)
