"""Retry with exponential backoff and full jitter, for retryable errors only.

Used around single requests by the transport and around whole streamed blob copies by the
engine (a stream cannot be replayed, so a failed one is restarted from the beginning).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from freightliner.domain.errors import RateLimited, RetryableError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def delay(self, attempt: int, error: RetryableError) -> float:
        """Seconds before retry number `attempt` (1-based); honours Retry-After when given."""
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return min(max(error.retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


def call_with_retry(fn: Callable[[], T], policy: RetryPolicy) -> T:
    attempt = 1
    while True:
        try:
            return fn()
        except RetryableError as exc:
            if attempt >= policy.attempts:
                raise
            pause = policy.delay(attempt, exc)
            log.info(
                "retrying after %s (attempt %d of %d, %.2fs)", exc, attempt, policy.attempts, pause
            )
            policy.sleep(pause)
            attempt += 1
