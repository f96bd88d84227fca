"""Each error class's platform outcome, applied by the one decorator to every kind of entry
point, and the Cloud Function's answers through functions-framework."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pydantic import BaseModel

from freightliner.adapters.aws.errors import own_resource_error
from freightliner.domain import errors
from freightliner.domain.errors import (
    ConfigurationError,
    FreightlinerError,
    InvalidInput,
    NotFound,
    Outcome,
    RateLimited,
    Unavailable,
    Where,
)
from freightliner.domain.events import ImageEvent
from freightliner.engine.events.gar_poll import poll_notifications
from freightliner.engine.events.intake import IntakeResult
from freightliner.handler_outcomes import Trigger, handles
from freightliner.harness.functions import cloud_function_client
from freightliner.ports.work import PulledMessage
from tests.support.emf import emitted

EXPECTED = {  # class: (outcome, HTTP status, exit code)
    "NotFound": (Outcome.REJECTED, 404, 3),
    "Unauthorized": (Outcome.REJECTED, 401, 4),
    "Forbidden": (Outcome.REJECTED, 403, 4),
    "InvalidInput": (Outcome.REJECTED, 400, 2),
    "TagConflict": (Outcome.REJECTED, 409, 6),
    "DigestMismatch": (Outcome.REJECTED, 502, 5),
    "Unsupported": (Outcome.REJECTED, 415, 7),
    "RateLimited": (Outcome.RETRY, 429, 75),
    "Unavailable": (Outcome.RETRY, 503, 75),
    "Timeout": (Outcome.RETRY, 504, 75),
    "ConfigurationError": (Outcome.DEAD_LETTER, 500, 78),
}


def _all_subclasses(cls: type[FreightlinerError]) -> Iterator[type[FreightlinerError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def test_every_error_class_knows_its_outcome_status_and_exit_code() -> None:
    classes = {c.__name__: c for c in _all_subclasses(FreightlinerError)}
    for name, cls in classes.items():
        if issubclass(cls, errors.RetryableError):
            assert cls.outcome is Outcome.RETRY and cls.retryable, name
        elif issubclass(cls, errors.PermanentError):
            assert cls.outcome is Outcome.REJECTED and not cls.retryable, name
        else:
            assert cls is ConfigurationError, name
    for name, (outcome, status, code) in EXPECTED.items():
        cls = classes[name]
        assert (cls.outcome, cls.http_status, cls.exit_code) == (outcome, status, code), name
    assert Outcome.REJECTED.acknowledged
    assert not Outcome.RETRY.acknowledged and not Outcome.DEAD_LETTER.acknowledged
    assert ConfigurationError("x").to_dict()["outcome"] == "dead-letter"


class _Body(BaseModel):
    name: str


def _entry(trigger: Trigger, failure: Exception | None, requires: tuple[str, ...] = ()) -> Any:
    calls: list[object] = []

    @handles("test input", trigger, requires=requires)
    def entry(event: dict[str, Any]) -> dict[str, Any]:
        calls.append(event)
        _Body.model_validate(event)
        if failure is not None:
            raise failure
        return {"status": "done"}

    entry.calls = calls  # type: ignore[attr-defined]
    return entry


def _counted(out: str) -> set[tuple[str, str]]:
    return {(e.name, e.dimensions.get("error_kind", "")) for e in emitted(out)}


def test_events_answer_rejected_input_and_raise_everything_else(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ok = {"name": "x"}
    assert _entry(Trigger.EVENT, None)(ok) == {"status": "done"}
    reply = _entry(Trigger.EVENT, NotFound("no such image"))(ok)
    assert reply["status"] == "rejected" and reply["error"] == "not_found"
    reply = _entry(Trigger.EVENT, None)({"nom": "x"})
    assert reply["status"] == "rejected" and reply["error"] == "invalid_input"
    assert "test input: name: Field required" in reply["message"]
    assert _counted(capsys.readouterr().out) == {
        ("Failures", "not_found"),
        ("Failures", "invalid_input"),
    }
    for failure in (Unavailable("down"), ConfigurationError("no table"), KeyError("bug")):
        with pytest.raises(type(failure)):
            _entry(Trigger.EVENT, failure)(ok)
    # a 503 is a retry, not a failure that pages; a configuration error is one
    assert _counted(capsys.readouterr().out) == {
        ("Retries", "unavailable"),
        ("Failures", "configuration"),
        ("Retries", "unexpected"),
    }


def test_missing_settings_fail_before_the_event_is_touched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FREIGHTLINER_TABLE", raising=False)
    entry = _entry(Trigger.EVENT, None, requires=("FREIGHTLINER_TABLE",))
    with pytest.raises(ConfigurationError, match="FREIGHTLINER_TABLE"):
        entry({"nom": "bad input is not acknowledged either"})
    assert entry.calls == []
    monkeypatch.setenv("FREIGHTLINER_TABLE", "t")
    assert entry({"name": "x"}) == {"status": "done"}


def test_tasks_and_cloud_events() -> None:
    ok = {"name": "x"}
    with pytest.raises(NotFound):  # the state machine's Catch records it
        _entry(Trigger.TASK, NotFound("gone"))(ok)
    with pytest.raises(InvalidInput, match="name: Field required"):
        _entry(Trigger.TASK, None)({})
    assert _entry(Trigger.CLOUD_EVENT, InvalidInput("bad"))(ok)["status"] == "rejected"
    for failure in (RateLimited("slow down"), ConfigurationError("no rules")):
        with pytest.raises(type(failure)):  # not acknowledged: Pub/Sub delivers it again
            _entry(Trigger.CLOUD_EVENT, failure)(ok)


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (None, 200),
        (NotFound("gone"), 404),
        (errors.Unauthorized("who"), 401),
        (errors.Forbidden("no"), 403),
        (errors.TagConflict("taken"), 409),
        (Unavailable("down"), 503),
        (ConfigurationError("no table"), 500),
        (RuntimeError("bug"), 500),
    ],
)
def test_http_answers_the_class_status(failure: Exception | None, status: int) -> None:
    reply = _entry(Trigger.HTTP, failure)({"name": "x"})
    assert reply[1] == status
    if failure is not None:
        assert reply[0]["status"] in {"rejected", "retry", "dead-letter"}


def test_http_rate_limits_carry_retry_after() -> None:
    body, status, headers = _entry(Trigger.HTTP, RateLimited("slow", retry_after=2.6))({"name": 1})
    assert status == 400 and body["error"] == "invalid_input"  # the body is checked first
    body, status, headers = _entry(Trigger.HTTP, RateLimited("slow", retry_after=2.6))(
        {"name": "x"}
    )
    assert (status, headers, body["status"]) == (429, {"Retry-After": "3"}, "retry")


CLOUD_EVENT = {
    "specversion": "1.0",
    "type": "google.cloud.pubsub.topic.v1.messagePublished",
    "source": "//pubsub.googleapis.com/projects/p/topics/gcr",
    "id": "1",
    "data": {"message": {"data": "bm90IGpzb24=", "messageId": "m-1"}},  # "not json"
}
HEADERS = {"Content-Type": "application/cloudevents+json"}


def test_cloud_function_acks_malformed_data_and_fails_while_misconfigured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("FREIGHTLINER_TABLE", "FREIGHTLINER_QUEUE_URL", "FREIGHTLINER_RULES"):
        monkeypatch.delenv(name, raising=False)
    client = cloud_function_client("on_gar_push", "cloudevent")
    assert client.post("/", json=CLOUD_EVENT, headers=HEADERS).status_code == 500
    monkeypatch.setenv("FREIGHTLINER_TABLE", "t")
    monkeypatch.setenv("FREIGHTLINER_QUEUE_URL", "http://127.0.0.1:9/q")
    monkeypatch.setenv("FREIGHTLINER_RULES", "/nonexistent/rules.yaml")
    # malformed notification: acknowledged (2xx), before any AWS call
    assert client.post("/", json=CLOUD_EVENT, headers=HEADERS).status_code == 200


def test_cloud_function_replicate_now_answers_400_for_a_bad_request() -> None:
    client = cloud_function_client("replicate_now", "http")
    response = client.post("/", json={"source": "r.example/a:1"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_input"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ResourceNotFoundException", ConfigurationError),  # the table was never created
        ("AWS.SimpleQueueService.NonExistentQueue", ConfigurationError),
        ("AccessDeniedException", ConfigurationError),  # the role lacks the permission
        ("ProvisionedThroughputExceededException", RateLimited),
        ("ThrottlingException", RateLimited),
        ("InternalServerError", Unavailable),
    ],
)
def test_failures_of_the_deployments_own_resources_are_never_rejected_input(
    code: str, expected: type[FreightlinerError]
) -> None:
    status = 500 if code == "InternalServerError" else 400
    exc = ClientError(
        {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutItem"
    )
    error = own_resource_error(exc, Where(registry="table", operation="dynamodb:PutItem"))
    assert type(error) is expected
    assert not error.outcome.acknowledged


@dataclass
class _Subscription:
    messages: list[PulledMessage]
    acked: list[str] = field(default_factory=list)
    nacked: list[str] = field(default_factory=list)

    def pull(self, max_messages: int) -> list[PulledMessage]:
        taken, self.messages = self.messages[:max_messages], []
        return taken

    def ack(self, ack_ids: Sequence[str]) -> None:
        self.acked += ack_ids

    def nack(self, ack_ids: Sequence[str]) -> None:
        self.nacked += ack_ids


def _notification(n: int) -> PulledMessage:
    data = {"action": "INSERT", "digest": f"us-docker.pkg.dev/p/r/app@sha256:{n:064x}"}
    return PulledMessage(ack_id=f"a{n}", message_id=f"m{n}", data=json.dumps(data).encode())


@pytest.mark.parametrize(
    ("failure", "raised"),
    [(Unavailable("queue down"), None), (ConfigurationError("no rules"), True)],
)
def test_the_gar_poll_acks_only_what_was_enqueued_or_malformed(
    failure: FreightlinerError, raised: bool | None
) -> None:
    """A retryable or configuration failure releases the message (never "rejected"); a
    configuration failure then fails the poll, where it is seen."""
    malformed = PulledMessage(ack_id="bad", message_id="mb", data=b"not json")
    subscription = _Subscription([_notification(1), malformed, _notification(2)])

    def accept(event: ImageEvent, message_id: str) -> IntakeResult:
        if message_id == "m2":
            raise failure
        raise NotFound("accepted and counted as rejected only for permanent errors")

    if raised:
        with pytest.raises(ConfigurationError):
            poll_notifications(subscription, accept)
    else:
        report = poll_notifications(subscription, accept)
        assert (report.rejected, report.retried) == (2, 1)
    assert subscription.acked == ["a1", "bad"] and subscription.nacked == ["a2"]
