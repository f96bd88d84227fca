"""The one retry policy: which failures are retried (the error taxonomy decides, never a
message), how long to wait (exponential backoff with full jitter, a Retry-After honoured),
and how many times.

It lives in the domain so every layer shares it without breaking the dependency rule: the
registry client around requests and streamed copies, the Google REST adapter around API and
token calls, the Lambda worker for an SQS message's redelivery delay. AWS calls go through
botocore's own standard/adaptive retry mode (`adapters.aws.sessions`), which follows the same
rules (full jitter, throttling classified apart) inside the SDK.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TypeVar

from freightliner.domain.errors import FreightlinerError, RateLimited

log = logging.getLogger(__name__)
T = TypeVar("T")


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """A Retry-After header as seconds from now: delta-seconds or an HTTP-date (RFC 9110
    section 10.2.3); None when absent or unreadable; a date in the past is 0."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less one is read as such
        return None
    return max(0.0, when.timestamp() - now())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`attempts` tries in all; before retry n (1-based) a pause drawn uniformly from
    [0, min(max_delay, base_delay * 2**(n-1))] ("full jitter": concurrent clients that failed
    together do not retry together), or the server's Retry-After when it gave one. A
    Retry-After longer than `max_retry_after` is not waited for here: the error goes to the
    caller at once, whose redelivery (the work queue's, or the operator's) carries the wait."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    jitter: Callable[[float, float], float] = field(default=random.uniform, compare=False)

    def backoff(self, attempt: int) -> float:
        """The jittered exponential pause before retry number `attempt` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(attempt - 1, 0)))
        return self.jitter(0.0, ceiling)

    def delay(self, attempt: int, error: BaseException) -> float:
        """Seconds before retry number `attempt` after `error`: at least the server's
        Retry-After (a whole host was told to wait, not this request), else the backoff."""
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return min(max(error.retry_after, 0.0), self.max_retry_after)
        return self.backoff(attempt)

    def _too_long(self, error: FreightlinerError) -> bool:
        wait = error.retry_after if isinstance(error, RateLimited) else None
        return wait is not None and wait > self.max_retry_after

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()`, tried again after the policy's pause while it fails retryably."""
        attempt = 1
        while True:
            try:
                return fn()
            except FreightlinerError as exc:
                if not exc.retryable or attempt >= self.attempts or self._too_long(exc):
                    raise
                pause = self.delay(attempt, exc)
                log.info(
                    "retrying after %s (attempt %d of %d, %.2fs)",
                    exc,
                    attempt,
                    self.attempts,
                    pause,
                )
                self.sleep(pause)
                attempt += 1


REDELIVERY = RetryPolicy(base_delay=30.0, max_delay=900.0, max_retry_after=900.0)
"""The pause before an SQS work item is delivered again (its visibility timeout): up to 30 s
doubling to 15 minutes, full jitter so a failed batch does not come back at once. Only its
delays are used: the queue's maxReceiveCount bounds the attempts."""


MIN_REDELIVERY = 5
"""Seconds a failed message waits at least: it never bounces straight back."""


def redelivery_delay(receive_count: int, error: BaseException | None = None) -> int:
    """Whole seconds an SQS message waits before its next delivery, after its
    `receive_count`-th delivery failed with `error`."""
    pause = REDELIVERY.delay(receive_count, error or Exception())
    return max(MIN_REDELIVERY, math.ceil(pause))
