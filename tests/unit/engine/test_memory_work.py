"""The in-memory work fakes implement the ports the engine takes, method for method: mypy
checks the assignments below (`mypy tests/unit/engine`), and the test compares signatures at
run time so a port that grows a method or parameter fails here, not in a confusing engine
test."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

from freightliner.ports.rejections import RejectionLog
from freightliner.ports.work import JobNotifier, ScanGate, StateStore, WorkQueue
from tests.support.memory_work import (
    MemoryNotifier,
    MemoryQueue,
    MemoryRejectionLog,
    MemoryScanGate,
    MemoryStateStore,
)

_state: StateStore = MemoryStateStore()
_queue: WorkQueue = MemoryQueue()
_notifier: JobNotifier = MemoryNotifier()
_gate: ScanGate = MemoryScanGate()
_rejections: RejectionLog = MemoryRejectionLog()


def _parameters(method: Callable[..., object]) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(method).parameters.values()]


@pytest.mark.parametrize(
    ("port", "fake"),
    [
        (StateStore, MemoryStateStore),
        (WorkQueue, MemoryQueue),
        (JobNotifier, MemoryNotifier),
        (ScanGate, MemoryScanGate),
        (RejectionLog, MemoryRejectionLog),
    ],
)
def test_each_fake_has_every_method_of_its_port_with_the_same_parameters(
    port: type, fake: type
) -> None:
    methods = [
        name
        for name, member in vars(port).items()
        if inspect.isfunction(member) and not name.startswith("_")
    ]
    assert methods
    for name in methods:
        assert _parameters(getattr(fake, name)) == _parameters(getattr(port, name)), name
