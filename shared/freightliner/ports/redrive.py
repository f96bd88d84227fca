"""What `events redrive` needs: a queue to read, delete from and send to, and a way to invoke a
function asynchronously (so the replay gets the platform's retries and destination again)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class QueuedMessage:
    body: str
    receipt: str
    sent_at: float  # seconds since the epoch, when the queue received it
    attributes: dict[str, str] = field(default_factory=dict)


class MessageQueue(Protocol):
    def receive(self, max_messages: int) -> list[QueuedMessage]:
        """Up to `max_messages` (at most 10), each hidden from other readers for a while."""
        ...

    def delete(self, receipt: str) -> None: ...

    def release(self, receipt: str) -> None:
        """Make a received message visible again at once."""
        ...

    def send(self, body: str) -> None: ...


class FunctionInvoker(Protocol):
    def invoke_async(self, function: str, payload: Any) -> None:
        """Queue one asynchronous invocation of `function` (a name or unqualified ARN)."""
        ...
