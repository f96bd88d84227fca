"""One error taxonomy for every layer.

What happens after a failure (retry in the client, visibility backoff in the SQS worker,
Retry vs Catch in the state machine, the CLI exit code) is decided by the error's class,
never by parsing a message. Messages name the registry, repository, reference and
operation that failed and never carry a credential.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    kind = "retryable"


class RateLimited(RetryableError):
    kind = "rate_limited"

    def __init__(
        self, message: str, where: Where | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, where)
        self.retry_after = retry_after


class Unavailable(RetryableError):
    kind = "unavailable"


class Timeout(RetryableError):
    kind = "timeout"


class PermanentError(FreightlinerError):
    """Retrying the same request cannot help."""

    kind = "permanent"


class NotFound(PermanentError):
    kind = "not_found"
    exit_code = 3


class Unauthorized(PermanentError):
    kind = "unauthorized"
    exit_code = 4


class Forbidden(PermanentError):
    kind = "forbidden"
    exit_code = 4


class DigestMismatch(PermanentError):
    kind = "digest_mismatch"
    exit_code = 5


class InvalidInput(PermanentError):
    """Bad user or event input: a reference, a config file, a media type we refuse."""

    kind = "invalid_input"
    exit_code = 2


class TagConflict(PermanentError):
    """An immutable tag already points at another digest; we never overwrite it."""

    kind = "tag_conflict"
    exit_code = 6


class Unsupported(PermanentError):
    """The registry or the content uses something we refuse to handle (schema 1, unknown type)."""

    kind = "unsupported"
    exit_code = 7
