"""Every handler fed generated events (any JSON, and the samples in events/ with parts
replaced): a clean rejection every time, never an exception, an HTTP 500 or a failed batch
(issue 11, points 10 and 11). The deployment here is configured but unreachable (its table,
queue and rules point nowhere), so an event that passes validation ends in an error that is
never acknowledged: the platform delivers it again once the deployment is fixed."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from freightliner.domain.envelopes import SqsBatch
from freightliner.domain.errors import InvalidInput
from freightliner.domain.events import EcrImageAction, ScanFinished, StartTreeRequest
from freightliner.engine.replicate_now import ReplicateNowRequest
from freightliner.engine.scan_gate import CheckScanRequest, ParkRequest, ScanTask
from freightliner.harness.functions import cloud_function_client, forget_roots, load_handler
from freightliner.harness.lambda_runtime import LocalContext

EVENTS = Path(__file__).resolve().parents[2] / "events"
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def sample(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replaced(copy[head], rest, new)
    return copy


@st.composite
def mutated(draw: st.DrawFn, name: str) -> Any:
    """A sample event with one part (possibly the whole) replaced by generated JSON."""
    event = sample(name)
    path = draw(st.sampled_from(list(_paths(event))))
    return _replaced(event, path, draw(JSON))


def events(*names: str) -> st.SearchStrategy[Any]:
    return st.one_of(JSON, *(mutated(name) for name in names))


UNREACHABLE = {
    "FREIGHTLINER_TABLE": "fuzz-table",
    "FREIGHTLINER_QUEUE_URL": "http://127.0.0.1:9/123456789012/fuzz",
    "FREIGHTLINER_RULES": "/nonexistent/rules.yaml",
    "FREIGHTLINER_SYNCS": "/nonexistent/syncs.yaml",
    "FREIGHTLINER_SCAN_GATE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:fuzz",
    "FREIGHTLINER_GAR_SUBSCRIPTION": "projects/fuzz/subscriptions/fuzz",
    "FREIGHTLINER_PUBSUB_ENDPOINT": "http://127.0.0.1:9",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_MAX_ATTEMPTS": "1",
    "AWS_ACCESS_KEY_ID": "fuzz",
    "AWS_SECRET_ACCESS_KEY": "fuzz",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(autouse=True)
def _unreachable_deployment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in UNREACHABLE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    forget_roots()
    yield
    forget_roots()


def _refused(reply: Any) -> None:
    assert isinstance(reply, dict) and reply.get("status") in ("rejected", "ignored"), reply


def _ecr_image(event: Any) -> None:
    EcrImageAction.model_validate(event).image_event()


def _scan(event: Any) -> None:
    ScanFinished.model_validate(event).image()


def _poll(event: Any) -> None:
    load_handler("gar_poller").ScheduledEvent.model_validate(event)


@pytest.mark.parametrize(
    ("function", "samples", "parse"),
    [
        (
            "on_ecr_push",
            ("ecr-push.json", "ecr-delete.json", "ecr-push-digest-only.json"),
            _ecr_image,
        ),
        ("on_scan_event", ("ecr-scan-complete.json", "inspector2-scan.json"), _scan),
        ("start_tree", ("start-tree.json",), StartTreeRequest.model_validate),
        ("gar_poller", ("schedule.json",), _poll),
    ],
)
def test_event_handlers_reject_what_they_cannot_use(
    function: str, samples: tuple[str, ...], parse: Callable[[Any], object]
) -> None:
    """Malformed: a clean rejection. Well-formed: it reaches the unreachable deployment and
    raises an error that is never acknowledged (so the platform retries it)."""
    handler = load_handler(function).handler

    @FUZZ
    @given(event=events(*samples))
    def run(event: Any) -> None:
        try:
            reply = handler(event, LocalContext())
        except Exception as exc:
            parse(event)  # raising is only for events the handler's own model accepts
            assert not isinstance(exc, InvalidInput), exc
            return
        _refused(reply)

    run()


def _valid(model: type[BaseModel], event: Any) -> bool:
    try:
        model.model_validate(event)
    except ValidationError:
        return False
    return True


def test_replicate_now_rejects_what_it_cannot_use() -> None:
    handler = load_handler("replicate_now").handler

    @FUZZ
    @given(event=events("replicate-now.json"))
    def run(event: Any) -> None:
        assume(not _valid(ReplicateNowRequest, event))  # a valid one would copy
        _refused(handler(event, LocalContext()))

    run()


@pytest.mark.parametrize(
    ("function", "model"),
    [
        ("check_scan", CheckScanRequest),
        ("evaluate_findings", ScanTask),
        ("wait_for_scan", ParkRequest),
    ],
)
def test_state_machine_tasks_raise_invalid_input_only(
    function: str, model: type[BaseModel]
) -> None:
    """Their contract with the state machine: InvalidInput, which its Catch routes."""
    handler = load_handler(function).handler

    @FUZZ
    @given(event=JSON)
    def run(event: Any) -> None:
        assume(not _valid(model, event))
        with pytest.raises(InvalidInput):
            handler(event, LocalContext())

    run()


RECORD = sample("sqs-replicate.json")["Records"][0]


@st.composite
def envelopes(draw: st.DrawFn) -> Any:
    """Any JSON, or an SQS batch mixing well-formed records (any body) and mangled ones."""
    if draw(st.booleans()):
        return draw(events("sqs-replicate.json"))
    records = []
    for n in range(draw(st.integers(0, 5))):
        record = {
            **RECORD,
            "messageId": f"m-{n}",
            "body": draw(st.text(max_size=40) | JSON.map(json.dumps)),
        }
        records.append(
            draw(st.sampled_from([record, *[_replaced(record, (k,), draw(JSON)) for k in record]]))
        )
    return {"Records": records}


def test_replicate_never_fails_a_batch_for_a_malformed_envelope() -> None:
    handler = load_handler("replicate").handler

    @FUZZ
    @given(event=envelopes())
    def run(event: Any) -> None:
        reply = handler(event, LocalContext())
        ids = {r["messageId"] for r in SqsBatch.from_event(event).records}
        failed = {f["itemIdentifier"] for f in reply["batchItemFailures"]}
        assert failed <= ids  # only well-formed records are ever reported (and retried)

    run()


def _cloud_event(data: Any) -> dict[str, Any]:
    event: dict[str, Any] = sample("gar-insert.cloudevent.json")
    event["data"] = data
    return event


@st.composite
def pubsub_data(draw: st.DrawFn) -> Any:
    """The CloudEvent's data: any JSON, or a message whose payload is generated."""
    if draw(st.booleans()):
        return draw(JSON)
    payload = draw(JSON | mutated("gar-insert.cloudevent.json").map(lambda e: e))
    raw = draw(st.binary(max_size=40)) if draw(st.booleans()) else json.dumps(payload).encode()
    return {
        "message": {"data": base64.b64encode(raw).decode(), "messageId": draw(st.text(max_size=8))}
    }


def test_on_gar_push_acknowledges_every_malformed_notification() -> None:
    client = cloud_function_client("on_gar_push", "cloudevent")

    @FUZZ
    @given(data=pubsub_data())
    def run(data: Any) -> None:
        response = client.post(
            "/", json=_cloud_event(data), headers={"Content-Type": "application/cloudevents+json"}
        )
        assert response.status_code == 200, response.text

    run()


def test_the_console_function_answers_400_to_bad_requests() -> None:
    client = cloud_function_client("replicate_now", "http")

    @FUZZ
    @given(body=events("replicate-now.json"))
    def run(body: Any) -> None:
        assume(not _valid(ReplicateNowRequest, body))
        assert client.post("/", json=body).status_code == 400

    run()
