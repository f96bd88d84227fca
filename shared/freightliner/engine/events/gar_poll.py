"""Pulling GAR notifications for AWS-only deployments: ack only after the work is enqueued.

A message whose work was enqueued (or that can never be processed: bad input) is acked; a
message that hit a retryable or configuration failure is released for redelivery, and a
configuration failure then fails the poll, where it can be seen. Each message is accepted
through the same intake as the Cloud Function path, so duplicates do no duplicate work.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable

from pydantic import BaseModel

from freightliner.domain.errors import ConfigurationError, FreightlinerError
from freightliner.domain.events import ImageEvent, PubSubMessage
from freightliner.engine.events.intake import IntakeResult
from freightliner.ports.work import NotificationSource

log = logging.getLogger(__name__)


class PollReport(BaseModel):
    pulled: int = 0
    enqueued: int = 0
    duplicates: int = 0
    ignored: int = 0
    rejected: int = 0
    retried: int = 0

    def outcomes(self) -> dict[str, int]:
        """The pulled messages by what became of them, in the event vocabulary."""
        return {
            "enqueued": self.enqueued,
            "duplicate": self.duplicates,
            "ignored": self.ignored,
            "rejected": self.rejected,
            "retried": self.retried,
        }


def poll_notifications(
    source: NotificationSource,
    accept: Callable[[ImageEvent, str], IntakeResult],
    max_messages: int = 100,
    max_rounds: int = 10,
) -> PollReport:
    report = PollReport()
    misconfigured: ConfigurationError | None = None
    for _ in range(max_rounds):
        messages = source.pull(max_messages)
        if not messages:
            break
        report.pulled += len(messages)
        done: list[str] = []
        again: list[str] = []
        for message in messages:
            envelope = PubSubMessage(
                data=base64.b64encode(message.data).decode(),
                messageId=message.message_id,
                publishTime=message.publish_time,
            )
            try:
                event = envelope.image_event()
                if event is None:
                    report.ignored += 1
                else:
                    outcome = accept(event, message.message_id).outcome
                    report.enqueued += outcome == "enqueued"
                    report.duplicates += outcome == "duplicate"
                    report.ignored += outcome == "no-match"
                done.append(message.ack_id)
            except FreightlinerError as exc:
                if exc.outcome.acknowledged:
                    log.error(
                        "message %s rejected: %s",
                        message.message_id,
                        exc.kind,
                        extra={"error_kind": exc.kind, "error": str(exc), "outcome": "rejected"},
                    )
                    report.rejected += 1
                    done.append(message.ack_id)
                    continue
                log.warning(
                    "message %s will be redelivered: %s",
                    message.message_id,
                    exc.kind,
                    extra={"error_kind": exc.kind, "error": str(exc), "outcome": "retry"},
                )
                report.retried += 1
                again.append(message.ack_id)
                if isinstance(exc, ConfigurationError):
                    misconfigured = exc
        source.ack(done)
        source.nack(again)
        if again:
            break  # the queue or state store is failing: the next scheduled run tries again
    if misconfigured is not None:
        raise misconfigured
    return report
