"""The NotificationSource port on a Pub/Sub subscription over Pub/Sub's REST API (v1 `pull`,
`acknowledge`, `modifyAckDeadline`): synchronous pull, no client library or gRPC to ship."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from freightliner.adapters.gcp.google_rest import GoogleRest
from freightliner.domain.errors import InvalidInput, Timeout, Unavailable, Where
from freightliner.ports.work import PulledMessage

API_ENDPOINT = "https://pubsub.googleapis.com"
API_HOST = "pubsub.googleapis.com"  # the key its Google credentials are kept under
FORBIDDEN_HINT = "the caller needs roles/pubsub.subscriber on the subscription"
SUBSCRIPTION_RE = re.compile(r"^projects/[\w.:-]+/subscriptions/[\w.~+%-]+$")


class _Message(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    message_id: str = Field(alias="messageId")
    data: str = ""
    publish_time: datetime | None = Field(default=None, alias="publishTime")


class _Received(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    ack_id: str = Field(alias="ackId")
    message: _Message


class _PullAnswer(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    received: list[_Received] = Field(default_factory=list, alias="receivedMessages")


class PubSubNotificationSource:
    def __init__(
        self,
        rest: GoogleRest,
        subscription: str,
        endpoint: str = API_ENDPOINT,
        wait: float = 20.0,
    ) -> None:
        if not SUBSCRIPTION_RE.match(subscription):
            raise InvalidInput(
                f"{subscription!r} is not a Pub/Sub subscription (projects/P/subscriptions/S)"
            )
        self._rest = rest
        self._url = f"{endpoint.rstrip('/')}/v1/{subscription}"
        self._subscription = subscription
        self._wait = wait  # how long a pull may wait for messages before it answers none

    def _where(self, operation: str) -> Where:
        return Where(registry="pubsub", repository=self._subscription, operation=operation)

    def pull(self, max_messages: int) -> list[PulledMessage]:
        where = self._where("pull")
        try:
            answer = self._rest.call(
                "POST",
                f"{self._url}:pull",
                API_HOST,
                where,
                body={"maxMessages": max_messages},
                timeout=self._wait,
            )
        except Timeout:
            return []  # nothing arrived while the pull waited
        try:
            received = _PullAnswer.model_validate(answer).received
            return [
                PulledMessage(
                    ack_id=r.ack_id,
                    message_id=r.message.message_id,
                    data=base64.b64decode(r.message.data, validate=True),
                    publish_time=r.message.publish_time,
                )
                for r in received
            ]
        except (ValidationError, binascii.Error):
            raise Unavailable("Pub/Sub answered a pull with an unreadable body", where) from None

    def ack(self, ack_ids: Sequence[str]) -> None:
        if ack_ids:
            self._post("acknowledge", {"ackIds": list(ack_ids)})

    def nack(self, ack_ids: Sequence[str]) -> None:
        """Release the messages for redelivery now (an ack deadline of 0)."""
        if ack_ids:
            self._post("modifyAckDeadline", {"ackIds": list(ack_ids), "ackDeadlineSeconds": 0})

    def _post(self, verb: str, body: dict[str, object]) -> None:
        self._rest.call("POST", f"{self._url}:{verb}", API_HOST, self._where(verb), body=body)
