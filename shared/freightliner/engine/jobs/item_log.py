"""One log line per item outcome, with the same keys everywhere, so a failure can be found by
filtering instead of reading: `level = "ERROR"` finds every permanent failure, and each names
its `error_kind`, `error`, `job_id`, `item_id`, `source`, `destination`, `digest` (12
characters) and `attempt`; a failure that will be retried is a WARNING with `retry_in`.

The outcome words are the job vocabulary (`freightliner.domain.jobs`): done, skipped, failed,
blocked, and rejected for an item its job does not imply.
"""

from __future__ import annotations

import logging

from freightliner.domain.errors import FreightlinerError
from freightliner.domain.work import WorkItem

log = logging.getLogger("freightliner.items")


def short_digest(digest: str | None) -> str:
    """`sha256:abcdef…` → `abcdef012345`."""
    return (digest or "").split(":", 1)[-1][:12]


def item_fields(item: WorkItem, attempt: int) -> dict[str, object]:
    return {
        "job_id": item.job_id,
        "item_id": item.item_id,
        "action": item.action,
        "source": item.source,
        "destination": item.destination,
        "digest": short_digest(item.source_digest),
        "attempt": attempt,
    }


def log_failed(item: WorkItem, error: FreightlinerError, attempt: int, outcome: str) -> None:
    """A permanent failure (`failed`, `rejected`): one ERROR line."""
    log.error(
        "%s %s: %s",
        item.action,
        outcome,
        error.kind,
        extra={
            **item_fields(item, attempt),
            "outcome": outcome,
            "error_kind": error.kind,
            "error": str(error),
        },
    )


def log_retry(item: WorkItem, error: FreightlinerError, attempt: int, retry_in: int) -> None:
    """A failure the queue delivers again in `retry_in` seconds: one WARNING line."""
    log.warning(
        "%s will be retried in %ds: %s",
        item.action,
        retry_in,
        error.kind,
        extra={
            **item_fields(item, attempt),
            "outcome": "retry",
            "error_kind": error.kind,
            "error": str(error),
            "retry_in": retry_in,
        },
    )


def log_finished(
    item: WorkItem, outcome: str, attempt: int, *, bytes_copied: int = 0, seconds: float = 0.0
) -> None:
    """A success (`done`, `skipped`): one INFO line."""
    log.info(
        "%s %s",
        item.action,
        outcome,
        extra={
            **item_fields(item, attempt),
            "outcome": outcome,
            "bytes": bytes_copied,
            "seconds": seconds,
        },
    )
