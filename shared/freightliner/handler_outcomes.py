"""Errors to platform outcomes, once, for every entry point.

Each error class knows its outcome (`Outcome`: rejected = acknowledged, retry, dead-letter),
its HTTP status and its exit code; `handles` applies them the way each trigger understands:

- EVENT (Lambda invoked by EventBridge, Scheduler or the console): rejected input is logged,
  counted and answered `{"status": "rejected", ...}` (Lambda does not retry a return);
  everything else raises, so Lambda retries it and then sends it to the on-failure
  destination, from where `freightliner events redrive` replays it.
- TASK (a state-machine task or one SQS record): everything raises; the state machine's
  Retry/Catch (by class name) or the queue's redrive policy decides.
- CLOUD_EVENT (Pub/Sub through a Cloud Function): a return acknowledges, so only rejected
  input returns; retryable and configuration errors raise and Pub/Sub delivers again.
- HTTP (a Cloud Function over HTTP): the class's status code (404, 401, 403, 400, 409, 429
  with Retry-After, 503, 500 for configuration errors).

Required settings are checked before every event (a dictionary lookup), so a deployment
missing one fails its first invocation, where it can be seen, and never consumes the event.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, ParamSpec

from pydantic import ValidationError

from freightliner.domain.errors import (
    ConfigurationError,
    FreightlinerError,
    InvalidInput,
    Outcome,
    RateLimited,
)
from freightliner.observability import count_failure, count_retry, logger

P = ParamSpec("P")
Reply = dict[str, Any]


class Trigger(Enum):
    EVENT = "event"
    TASK = "task"
    CLOUD_EVENT = "cloud_event"
    HTTP = "http"


def invalid(exc: ValidationError, what: str) -> InvalidInput:
    """A pydantic refusal as InvalidInput naming the first field at fault (never its value)."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(event)"
    return InvalidInput(f"{what}: {field}: {first['msg']}")


def classify(exc: Exception, what: str) -> FreightlinerError | None:
    """The taxonomy's error for `exc`; None for an exception nobody classified."""
    if isinstance(exc, ValidationError):
        return invalid(exc, what)
    if isinstance(exc, FreightlinerError):
        return exc
    return None


def require_settings(names: Sequence[str]) -> None:
    """ConfigurationError naming every required environment variable that is unset."""
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        raise ConfigurationError(f"required setting(s) not set: {', '.join(missing)}")


_LOGGED = "_freightliner_logged"


def mark_logged(error: FreightlinerError) -> None:
    """The entry point logged this failure itself, with more than `record` knows (the work
    item, the retry delay): `record` only counts it."""
    setattr(error, _LOGGED, True)


def record(error: FreightlinerError, what: str) -> None:
    """One log line (WARNING when it will be retried, else ERROR, with `error_kind` and
    `error` keys) and the metrics of a failure, by its outcome."""
    extra = {
        "what": what,
        "outcome": error.outcome.value,
        "error_kind": error.kind,
        "error": str(error),
        "detail": error.to_dict(),
    }
    logged = getattr(error, _LOGGED, False)
    if error.outcome is Outcome.RETRY:
        if not logged:
            logger.warning("will be retried: %s", error.kind, extra=extra)
        count_retry(error.kind)
    elif error.outcome is Outcome.DEAD_LETTER:
        if not logged:
            logger.error("configuration error: not acknowledged", extra=extra)
        count_failure(error.kind)
    else:
        if not logged:
            logger.error("rejected: %s", error.kind, extra=extra)
        count_failure(error.kind)


def rejected_reply(error: FreightlinerError) -> Reply:
    return {"status": error.outcome.value, **error.to_dict()}


def handles(
    what: str, trigger: Trigger, requires: Sequence[str] = ()
) -> Callable[[Callable[P, Reply]], Callable[P, Any]]:
    """Apply the error classes' platform outcomes to one entry point (see the module doc).

    `what` names the input in logs and replies; `requires` lists the environment variables
    the entry point cannot work without."""

    def decorate(entry: Callable[P, Reply]) -> Callable[P, Any]:
        @functools.wraps(entry)
        def run(*args: P.args, **kwargs: P.kwargs) -> Any:
            try:
                require_settings(requires)
                reply = entry(*args, **kwargs)
            except Exception as exc:
                error = classify(exc, what)
                if error is None:
                    logger.exception("unexpected failure: not acknowledged", extra={"what": what})
                    count_retry("unexpected")
                    if trigger is Trigger.HTTP:
                        return {"status": Outcome.RETRY.value, "error": "unexpected"}, 500
                    raise
                record(error, what)
                if trigger is Trigger.HTTP:
                    headers = {}
                    if isinstance(error, RateLimited) and error.retry_after is not None:
                        headers["Retry-After"] = str(max(1, round(error.retry_after)))
                    return rejected_reply(error), error.http_status, headers
                if trigger is Trigger.TASK or not error.outcome.acknowledged:
                    if error is exc:
                        raise
                    raise error from None
                return rejected_reply(error)
            return (reply, 200) if trigger is Trigger.HTTP else reply

        return run

    return decorate
