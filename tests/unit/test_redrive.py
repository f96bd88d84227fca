"""Reading failed events back and replaying them: both message shapes, unreadable records
kept, re-failures left for the next run, DLQ bodies moved as they are."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from freightliner.domain.errors import InvalidInput
from freightliner.domain.failed_events import failed_event
from freightliner.engine.redrive import RedriveReport, move_dead_letters, replay_failed_events
from freightliner.ports.redrive import QueuedMessage

EVENTS = Path(__file__).resolve().parents[2] / "events"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:freightliner-OnEcrPushFunction-AbCdEf123456"


def test_a_lambda_destination_record_names_the_function_and_the_original_event() -> None:
    text = (EVENTS / "failed-event.json").read_text()
    event = failed_event(text, {})
    assert event.function == ARN  # `:$LATEST` dropped
    assert event.payload == json.loads(text)["requestPayload"]
    assert event.reason == "RetriesExhausted after 3 attempts"


def test_an_eventbridge_dead_letter_names_its_target() -> None:
    body = json.dumps({"detail-type": "ECR Image Action", "detail": {}})
    event = failed_event(body, {"TARGET_ARN": ARN, "ERROR_CODE": "THROTTLING"})
    assert (event.function, event.reason) == (ARN, "THROTTLING")
    assert event.payload["detail-type"] == "ECR Image Action"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("not json", "not JSON"),
        ('{"requestPayload": {}}', "requestContext: Field required"),
        ('{"requestContext": {"functionArn": "x"}, "requestPayload": 1}', "functionArn"),
        ("[1]", "(record)"),
    ],
)
def test_unreadable_messages_are_invalid_input(body: str, named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        failed_event(body, {})


@dataclass
class FakeQueue:
    messages: list[QueuedMessage]
    deleted: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    receives: int = 0

    def receive(self, max_messages: int) -> list[QueuedMessage]:
        self.receives += 1
        taken, self.messages = self.messages[:max_messages], self.messages[max_messages:]
        return taken

    def delete(self, receipt: str) -> None:
        self.deleted.append(receipt)

    def release(self, receipt: str) -> None:
        self.released.append(receipt)

    def send(self, body: str) -> None:
        self.sent.append(body)


@dataclass
class FakeInvoker:
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def invoke_async(self, function: str, payload: Any) -> None:
        self.calls.append((function, payload))


def _record(function: str, n: int) -> str:
    return json.dumps(
        {"requestContext": {"functionArn": f"{function}:$LATEST"}, "requestPayload": {"n": n}}
    )


def test_replay_invokes_each_old_event_once_and_leaves_the_rest() -> None:
    start_tree = ARN.replace("OnEcrPush", "StartTree")
    queue = FakeQueue(
        [
            QueuedMessage(_record(ARN, 1), "r1", sent_at=10.0),
            QueuedMessage("garbage", "r2", sent_at=10.0),
            QueuedMessage(_record(start_tree, 2), "r3", sent_at=11.0),
            *(QueuedMessage(_record(ARN, n), f"late{n}", sent_at=101.0) for n in range(12)),
        ]
    )
    invoker = FakeInvoker()
    report = RedriveReport()
    replay_failed_events(queue, invoker, report, limit=100, clock=lambda: 100.0)
    assert invoker.calls == [(ARN, {"n": 1}), (start_tree, {"n": 2})]
    assert queue.deleted == ["r1", "r3"]  # the unreadable one stays
    assert report.events_replayed == {
        "freightliner-OnEcrPushFunction-AbCdEf123456": 1,
        "freightliner-StartTreeFunction-AbCdEf123456": 1,
    }
    assert report.events_unreadable == 1
    # messages that arrived after the run started are released, and a batch of only those
    # ends the run instead of replaying them again and again
    assert report.events_failed_again == 12 and queue.receives == 2
    assert queue.released == [f"late{n}" for n in range(12)]


def test_replay_stops_at_the_limit() -> None:
    queue = FakeQueue([QueuedMessage(_record(ARN, n), f"r{n}", sent_at=0.0) for n in range(25)])
    report = RedriveReport()
    replay_failed_events(queue, FakeInvoker(), report, limit=12, clock=lambda: 1.0)
    assert sum(report.events_replayed.values()) == 12 and len(queue.messages) == 13


def test_dead_letters_go_back_to_the_work_queue_as_they_were() -> None:
    dlq = FakeQueue([QueuedMessage(f'{{"item": {n}}}', f"d{n}", sent_at=0.0) for n in range(3)])
    work = FakeQueue([])
    report = RedriveReport()
    move_dead_letters(dlq, work, report, limit=100)
    assert work.sent == ['{"item": 0}', '{"item": 1}', '{"item": 2}']
    assert dlq.deleted == ["d0", "d1", "d2"] and report.work_items_moved == 3
