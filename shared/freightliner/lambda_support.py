"""What every handler does the same way: refuse bad input with a structured log line and a
metric (never only a traceback), parse a state-machine task's input into its model, and keep
an SQS message leased while a long copy runs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from freightliner.domain.errors import FreightlinerError, InvalidInput
from freightliner.observability import count_failure, logger

HEARTBEAT_SECONDS = 60.0
LEASE_SECONDS = 180
M = TypeVar("M", bound=BaseModel)


def _invalid(exc: ValidationError, what: str) -> InvalidInput:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(event)"
    return InvalidInput(f"{what}: {field}: {first['msg']}")


def task_input(model: type[M], event: Any, what: str) -> M:
    """A state-machine task's input as its model; InvalidInput (not retried) when it is not."""
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise _invalid(exc, what) from None


def rejection(exc: Exception, what: str) -> dict[str, Any]:
    """Log and count refused input; return the error object the caller sees."""
    if isinstance(exc, ValidationError):
        error: FreightlinerError = _invalid(exc, what)
    elif isinstance(exc, FreightlinerError):
        error = exc
    else:
        raise exc
    logger.error("rejected input", extra={"what": what, "error": error.to_dict()})
    count_failure(error.kind)
    return {"status": "rejected", **error.to_dict()}


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


def retry_delay(receive_count: int) -> int:
    """Visibility timeout before the next attempt: 30 s doubling, at most 15 minutes."""
    return int(min(900, 30 * 2 ** max(receive_count - 1, 0)))
