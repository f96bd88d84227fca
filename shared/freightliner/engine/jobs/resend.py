"""Sending an item back to the queue as a new message instead of letting its message return.

A message that comes back by its visibility timeout has its receive count grow, and the
queue's redrive policy dead-letters it after a few: an outage longer than those few retries
would walk every item in flight into the DLQ. So a retryable failure acknowledges the
message and sends the item again, delayed, as a new message carrying its attempt count:

- an item whose registry's breaker is open (or whose failure opened it) waits the cool-down
  out with its attempt count unchanged, however long the outage lasts;
- a throttled call (429, DynamoDB throttling) is re-sent after the backoff (or its
  Retry-After), uncounted: the service is up and asked to be called later; so is a failure
  of the deployment's own services (the state table, the queue, the rules document), which
  says nothing about the item;
- any other retryable failure (a 5xx or reset while the host's breaker stays closed, so
  the rest of its traffic succeeds) counts: after `max_attempts` of those the item is
  recorded FAILED with its reason (`jobs resume --retry-failed` sends it again). With the
  default 10 and the backoff of 30 s doubling to 15 minutes, that is at least about 1.5
  hours of failing alone before an item gives up.

Configuration errors are not re-sent: they keep their visibility backoff and reach the DLQ,
to wait there for an operator's fix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from freightliner.domain.errors import FreightlinerError, RateLimited
from freightliner.domain.work import WorkItem
from freightliner.engine.jobs.circuit import Circuit, Failure
from freightliner.ports.work import WorkQueue

MAX_DELAY = 900  # SQS DelaySeconds' ceiling
DEFAULT_MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class Resending:
    """How a worker re-sends: the queue, the breakers (None: no breakers), the backoff in
    seconds before re-send number n (1-based; the composition root scales it for
    compressed-clock runs) and the budget of counted attempts."""

    queue: WorkQueue
    circuit: Circuit | None
    backoff: Callable[[int], float]
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


@dataclass(frozen=True)
class NextAttempt:
    item: WorkItem  # with its attempt count
    delay: int  # seconds the new message stays invisible
    counted: bool
    failure: Failure

    def exhausted(self, resending: Resending) -> bool:
        return self.counted and self.item.attempt >= resending.max_attempts


def delay_seconds(seconds: float) -> int:
    """A queue delay: whole seconds, at least 1 (never a hot loop), at most SQS's 900."""
    return max(1, min(MAX_DELAY, math.ceil(seconds)))


def next_attempt(
    item: WorkItem, error: FreightlinerError, resending: Resending, hosts: tuple[str, ...]
) -> NextAttempt:
    """Where a retryable failure leaves the item: counted or not, and how long it waits."""
    circuit = resending.circuit
    failure = circuit.failed(error, hosts) if circuit is not None else Failure()
    own_resource = bool(error.where.registry) and error.where.registry not in hosts
    counted = not (failure.outage or own_resource or isinstance(error, RateLimited))
    attempt = item.attempt + 1 if counted else item.attempt
    if failure.outage:
        wait = failure.wait
    else:
        wait = resending.backoff(max(attempt, 1))
        if isinstance(error, RateLimited) and error.retry_after is not None:
            wait = max(wait, error.retry_after)
    return NextAttempt(
        item.model_copy(update={"attempt": attempt}), delay_seconds(wait), counted, failure
    )
