"""One error taxonomy for every layer.

What happens after a failure (retry in the client, visibility backoff in the SQS worker,
Retry vs Catch in the state machine, ack vs redelivery of an event, the CLI exit code, the
HTTP status) is decided by the error's class, never by parsing a message. Messages name the
registry, repository, reference and operation that failed and never carry a credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """What a platform does with the event or message whose handling failed; the one
    vocabulary of logs, metrics, the CLI and replies."""

    REJECTED = "rejected"
    """Acknowledged: delivering the same input again cannot help; the failure is recorded."""
    RETRY = "retry"
    """Not acknowledged: redelivered later (Lambda retries, SQS visibility, Pub/Sub)."""
    DEAD_LETTER = "dead-letter"
    """Not acknowledged, and redelivery only helps once an operator fixes the deployment:
    it ends in the on-failure destination / DLQ, from where `freightliner events redrive`
    replays it."""

    @property
    def acknowledged(self) -> bool:
        return self is Outcome.REJECTED


@dataclass(frozen=True, slots=True)
class Where:
    """What was being done when an error happened; rendered into every message."""

    registry: str = ""
    repository: str = ""
    reference: str = ""
    operation: str = ""

    def describe(self) -> str:
        target = self.registry
        if self.repository:
            target = f"{target}/{self.repository}" if target else self.repository
        if self.reference:
            sep = "@" if ":" in self.reference and self.reference.startswith("sha") else ":"
            target = f"{target}{sep}{self.reference}"
        parts = [p for p in (self.operation, target) if p]
        return " ".join(parts)


class FreightlinerError(Exception):
    """Base of every error the project raises on purpose."""

    retryable: bool = False
    exit_code: int = 1
    http_status: int = 500
    outcome: Outcome = Outcome.RETRY  # an error nobody classified is not dropped
    kind: str = "error"

    def __init__(self, message: str, where: Where | None = None) -> None:
        self.where = where or Where()
        self.detail = message
        context = self.where.describe()
        super().__init__(f"{context}: {message}" if context else message)

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe shape for logs, CLI --json output and console replies."""
        return {
            "error": self.kind,
            "retryable": self.retryable,
            "outcome": self.outcome.value,
            "message": str(self),
            "registry": self.where.registry,
            "repository": self.where.repository,
            "reference": self.where.reference,
            "operation": self.where.operation,
        }


class RetryableError(FreightlinerError):
    """The same request may succeed later."""

    retryable = True
    exit_code = 75  # EX_TEMPFAIL
    http_status = 503
    outcome = Outcome.RETRY
    kind = "retryable"


class RateLimited(RetryableError):
    kind = "rate_limited"
    http_status = 429

    def __init__(
        self, message: str, where: Where | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, where)
        self.retry_after = retry_after


class Unavailable(RetryableError):
    kind = "unavailable"


class Timeout(RetryableError):
    kind = "timeout"
    http_status = 504


class ConfigurationError(FreightlinerError):
    """The deployment is wrong, not the input: a required setting unset, the rules or sync
    document missing, unreadable or invalid, the function's own table or queue missing.
    Never acknowledged: every event waits (redelivered, then dead-lettered) until an operator
    fixes it, instead of being consumed and lost."""

    exit_code = 78  # EX_CONFIG
    http_status = 500
    outcome = Outcome.DEAD_LETTER
    kind = "configuration"


class PermanentError(FreightlinerError):
    """Retrying the same request cannot help."""

    http_status = 422
    outcome = Outcome.REJECTED
    kind = "permanent"


class NotFound(PermanentError):
    kind = "not_found"
    exit_code = 3
    http_status = 404


class Unauthorized(PermanentError):
    kind = "unauthorized"
    exit_code = 4
    http_status = 401


class Forbidden(PermanentError):
    kind = "forbidden"
    exit_code = 4
    http_status = 403


class DigestMismatch(PermanentError):
    kind = "digest_mismatch"
    exit_code = 5
    http_status = 502  # the registry served bytes that are not what it named


class InvalidInput(PermanentError):
    """Bad user or event input: a reference, a config file, a media type we refuse."""

    kind = "invalid_input"
    exit_code = 2
    http_status = 400


class TagConflict(PermanentError):
    """An immutable tag already points at another digest; we never overwrite it."""

    kind = "tag_conflict"
    exit_code = 6
    http_status = 409


class Unsupported(PermanentError):
    """The registry or the content uses something we refuse to handle (schema 1, unknown type)."""

    kind = "unsupported"
    exit_code = 7
    http_status = 415
