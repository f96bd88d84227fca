"""A thread-safe cache whose values expire, each loaded once however many threads ask for it at
the same time (single flight): credentials, resolved secrets and registry tokens share it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlightCache(Generic[K, V]):
    """Values per key, kept while their expiry is later than `clock()`.

    `get` calls `load` when the key holds nothing fresh; concurrent callers for one key wait
    for that single load instead of starting their own. `load` returns the value and its expiry
    on the cache's clock; an expiry already past means "do not reuse". A `load` that raises
    caches nothing.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[K, tuple[V, float]] = {}
        self._locks: dict[K, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: K, load: Callable[[], tuple[V, float]]) -> V:
        entry = self._entries.get(key)
        if entry is not None and entry[1] > self._clock():
            return entry[0]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            entry = self._entries.get(key)
            if entry is not None and entry[1] > self._clock():
                return entry[0]
            value, expires = load()
            self._entries[key] = (value, expires)
            return value

    def invalidate(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
