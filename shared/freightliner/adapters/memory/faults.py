"""A fault schedule for in-memory adapters: the next calls of a named operation raise the
project's errors, so tests can drive retries, releases and failures without a network."""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Collection
from dataclasses import dataclass

from freightliner.domain.errors import FreightlinerError, Where

ErrorFactory = Callable[[Where], FreightlinerError]


@dataclass(frozen=True, slots=True)
class _Fault:
    make: ErrorFactory


class Faults:
    """Per-operation queues of scheduled failures; every checked call is also counted."""

    def __init__(self, operations: Collection[str]) -> None:
        self._operations = frozenset(operations)
        self._lock = threading.Lock()
        self._queues: dict[str, deque[_Fault | None]] = {}
        self.calls: Counter[str] = Counter()

    def fail(
        self,
        operation: str,
        error: type[FreightlinerError] | ErrorFactory,
        *,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """Make calls `after + 1` … `after + times` of `operation` (from now on) raise `error`:
        an error class (built with an "injected fault" message) or a factory of one."""
        if operation not in self._operations:
            known = ", ".join(sorted(self._operations))
            raise ValueError(f"unknown operation {operation!r}; one of {known}")
        make: ErrorFactory
        if isinstance(error, type):
            error_class = error
            make = lambda where: error_class("injected fault", where)  # noqa: E731
        else:
            make = error
        fault = _Fault(make)
        with self._lock:
            queue = self._queues.setdefault(operation, deque())
            for n in range(after, after + times):
                while len(queue) < n:
                    queue.append(None)
                if n < len(queue) and queue[n] is None:
                    queue[n] = fault
                else:  # a fault scheduled earlier keeps its call; this one comes after it
                    queue.insert(n, fault)

    def check(self, operation: str, where: Where) -> None:
        """Count the call; raise the fault scheduled for it, if any."""
        with self._lock:
            self.calls[operation] += 1
            queue = self._queues.get(operation)
            fault = queue.popleft() if queue else None
        if fault is not None:
            raise fault.make(where)

    def pending(self, operation: str) -> int:
        """Faults still waiting for their call."""
        with self._lock:
            return sum(1 for f in self._queues.get(operation, ()) if f is not None)
