"""A Lambda-context stand-in where the runtime hands none (Cloud Functions): the time left
before the platform stops this invocation, counted from the function's configured timeout
(FREIGHTLINER_FUNCTION_TIMEOUT, set equal to `gcloud functions deploy --timeout`).

Powertools Idempotency reads it, so a record left INPROGRESS by an instance killed mid-intake
expires with that invocation and a redelivery runs the intake again, instead of being refused
for the record's whole 24 h lifetime."""

from __future__ import annotations

import time
from collections.abc import Callable


class InvocationDeadline:
    def __init__(self, timeout_seconds: float, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._deadline = clock() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock()) * 1000))
