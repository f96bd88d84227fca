"""What Lambda handlers share besides their error outcomes (`freightliner.handler_outcomes`):
parse a state-machine task's input into its model, and keep an SQS message leased while a
long copy runs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from freightliner.handler_outcomes import invalid
from freightliner.observability import logger

HEARTBEAT_SECONDS = 60.0
LEASE_SECONDS = 180
M = TypeVar("M", bound=BaseModel)


def task_input(model: type[M], event: Any, what: str) -> M:
    """A state-machine task's input as its model; InvalidInput (not retried) when it is not."""
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise invalid(exc, what) from None


class VisibilityHeartbeat:
    """Extends an SQS message's visibility every minute while its copy runs."""

    def __init__(
        self,
        extend: Callable[[str, int], None],
        receipt_handle: str,
        every: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._extend = extend
        self._every = every
        self._receipt = receipt_handle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._extend(self._receipt, LEASE_SECONDS)
            except Exception:  # a missed heartbeat only risks a duplicate delivery
                logger.warning("could not extend message visibility", exc_info=True)

    def __enter__(self) -> VisibilityHeartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
