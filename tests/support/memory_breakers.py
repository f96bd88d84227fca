"""The `Breakers` port in memory for in-process tests: each method is what one conditional
write does in `DynamoBreakers`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from freightliner.domain.breaker import BreakerRecord


class MemoryBreakers:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.records: dict[str, BreakerRecord] = {}

    def _put(self, record: BreakerRecord) -> BreakerRecord:
        self.records[record.host] = record
        return record

    def get(self, host: str) -> BreakerRecord:
        with self._lock:
            return self.records.get(host, BreakerRecord(host=host))

    def count_failure(self, host: str) -> BreakerRecord:
        with self._lock:
            record = self.records.get(host, BreakerRecord(host=host))
            return self._put(record.model_copy(update={"failures": record.failures + 1}))

    def open(self, host: str, until: float, seen_open_until: float) -> bool:
        with self._lock:
            record = self.records.get(host, BreakerRecord(host=host))
            if record.open_until != seen_open_until:
                return False
            opened_at = record.opened_at if seen_open_until else self._clock()
            changes = {"open_until": until, "probe_until": 0.0, "opened_at": opened_at}
            self._put(record.model_copy(update=changes))
            return True

    def take_probe(self, host: str, now: float, lease_until: float) -> bool:
        with self._lock:
            record = self.records.get(host, BreakerRecord(host=host))
            if not record.probe_free(now):
                return False
            self._put(record.model_copy(update={"probe_until": lease_until}))
            return True

    def close(self, host: str) -> bool:
        with self._lock:
            record = self.records.get(host, BreakerRecord(host=host))
            self._put(BreakerRecord(host=host))
            return bool(record.open_until)

    def open_breakers(self) -> list[BreakerRecord]:
        with self._lock:
            return [r for r in self.records.values() if r.open_until]
