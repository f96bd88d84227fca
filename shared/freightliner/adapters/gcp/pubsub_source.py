"""The NotificationSource port on a Pub/Sub subscription: synchronous (unary) pull."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from freightliner.domain.errors import Unavailable, Where
from freightliner.ports.work import PulledMessage


class PubSubNotificationSource:
    def __init__(self, subscriber: Any, subscription: str, timeout: float = 20.0) -> None:
        self._subscriber = subscriber  # a google.cloud.pubsub_v1.SubscriberClient
        self._subscription = subscription
        self._timeout = timeout

    def _where(self, operation: str) -> Where:
        return Where(registry="pubsub", repository=self._subscription, operation=operation)

    def pull(self, max_messages: int) -> list[PulledMessage]:
        from google.api_core import exceptions  # noqa: PLC0415 - only GCP users pay for it

        try:
            response = self._subscriber.pull(
                request={"subscription": self._subscription, "max_messages": max_messages},
                timeout=self._timeout,
            )
        except exceptions.DeadlineExceeded:
            return []
        except exceptions.GoogleAPICallError as exc:
            raise Unavailable(f"pull failed: {type(exc).__name__}", self._where("pull")) from None
        return [
            PulledMessage(
                ack_id=received.ack_id,
                message_id=received.message.message_id,
                data=bytes(received.message.data),
            )
            for received in response.received_messages
        ]

    def ack(self, ack_ids: Sequence[str]) -> None:
        if ack_ids:
            self._subscriber.acknowledge(
                request={"subscription": self._subscription, "ack_ids": list(ack_ids)}
            )

    def nack(self, ack_ids: Sequence[str]) -> None:
        if ack_ids:
            self._subscriber.modify_ack_deadline(
                request={
                    "subscription": self._subscription,
                    "ack_ids": list(ack_ids),
                    "ack_deadline_seconds": 0,
                }
            )
