"""What the pipeline's log output lets a person filter, read exactly as the functions write it
(the shared Powertools handler's stream): a permanent failure is one ERROR line with its keys,
a retry one WARNING with `retry_in`, no full digest anywhere; the Cloud Function starts every
invocation from fresh keys, writes `severity` and the request's trace, and its metrics as
JSON lines."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from freightliner.harness.functions import cloud_function_client
from freightliner.harness.images import Pusher
from freightliner.harness.lambda_runtime import LocalContext
from freightliner.harness.local_stack import GAR_HOST
from freightliner.observability import logger
from tests.e2e.conftest import EVENTS, Stack

FULL_HEX = re.compile(r"[0-9a-f]{64}")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


class Output:
    """The lines the functions' logger writes, as JSON."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def take(self) -> list[dict[str, Any]]:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    @property
    def text(self) -> str:
        return self.buffer.getvalue()


@pytest.fixture
def output() -> Iterator[Output]:
    captured = Output()
    handler = logger.registered_handler
    assert isinstance(handler, __import__("logging").StreamHandler)
    previous = handler.setStream(captured.buffer)
    try:
        yield captured
    finally:
        handler.setStream(previous)


def _sqs_record(stack: Stack) -> dict[str, Any]:
    [message] = stack.sqs.receive_message(
        QueueUrl=stack.resources.queue_url, AttributeNames=["All"], MaxNumberOfMessages=1
    )["Messages"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message["Attributes"],
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:freightliner-work",
        "awsRegion": "us-east-1",
    }


def test_failures_are_filterable_and_no_line_carries_a_full_digest(
    stack: Stack, output: Output
) -> None:
    copied = stack.push("team/app", "v1", seed=1)
    stack.fire(stack.ecr_event(copied, "team/app", "v1"))
    assert stack.work() == 1
    missing = stack.push("team/app", "v2", seed=2)
    event = stack.ecr_event(missing, "team/app", "v2")
    event["detail"]["image-digest"] = missing.digest[:-4] + "0000"  # the registry lacks it
    failed_job = stack.fire(event)["job_id"]
    assert stack.work() == 1
    retried = stack.push("team/app", "v3", seed=3)
    stack.gar_proxy.fail(lambda m, p: m == "PUT" and "/manifests/" in p, 503, 1000)
    stack.fire(stack.ecr_event(retried, "team/app", "v3"))
    stack.replicate.handler({"Records": [_sqs_record(stack)]}, LocalContext())

    assert not FULL_HEX.search(output.text)
    lines = output.take()
    assert all(line["severity"] == line["level"] for line in lines)
    [error] = [line for line in lines if line["level"] == "ERROR"]
    assert error["error_kind"] == "not_found" and error["job_id"] == failed_job
    assert error["outcome"] == "failed" and error["attempt"] == 1
    assert error["digest"] == missing.digest[:-4].split(":")[1][:12] and error["item_id"]
    assert re.fullmatch(r".+/team/app@sha256:[0-9a-f]{12}", error["source"])
    assert error["destination"].endswith("/team/app:v2") and error["error"]
    [retry] = [line for line in lines if line.get("retry_in") is not None]
    # re-sent after the first redelivery backoff: jittered up to 30 s, never under 5 s
    assert retry["level"] == "WARNING" and 5 <= retry["retry_in"] <= 30
    assert retry["error_kind"] == "unavailable" and retry["outcome"] == "retry"
    assert not [line for line in lines if line["message"].startswith("will be retried")]
    audits = [line for line in lines if line.get("log_type") == "AUDIT"]
    assert [(a["audit"], a["outcome"]) for a in audits] == [("copy", "done"), ("copy", "failed")]


def _gar_event(digest: str, message_id: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "gar-insert.cloudevent.json").read_text())
    payload = json.loads(base64.b64decode(event["data"]["message"]["data"]))
    payload["digest"] = f"{GAR_HOST}/my-project/apps/hello@{digest}"
    event["data"]["message"]["data"] = base64.b64encode(json.dumps(payload).encode()).decode()
    event["data"]["message"]["messageId"] = message_id
    return event


def test_the_cloud_function_starts_each_invocation_fresh_with_severity_trace_and_metrics(
    stack: Stack, output: Output, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    with Pusher(stack.gar.url) as pusher:
        image = pusher.multi_platform("my-project/apps/hello", "1.0")
    client = cloud_function_client("on_gar_push", "cloudevent")
    headers = {"Content-Type": "application/cloudevents+json"}
    first = client.post(
        "/",
        json=_gar_event(image.digest, "first-message"),
        headers={**headers, "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"},
    )
    assert first.status_code == 200, first.text
    lines = output.take()
    assert {line.get("correlation_id") for line in lines} >= {"first-message"}
    trace = f"projects/my-project/traces/{TRACE}"
    assert all(line["logging.googleapis.com/trace"] == trace for line in lines)
    assert all(line["severity"] in ("INFO", "WARNING") for line in lines)
    metric_lines = [line for line in lines if "metric" in line]
    assert metric_lines and all(isinstance(m["value"], float | int) for m in metric_lines)
    assert all(m["message"] == "metric" and m["unit"] for m in metric_lines)
    events = [m for m in metric_lines if m["metric"] == "Events"]  # the engine's own emit()
    assert [(m["source"], m["outcome"]) for m in events] == [("gar", "enqueued")]

    bad = _gar_event(image.digest, "second-message")
    bad["data"]["message"]["data"] = base64.b64encode(b"not json").decode()
    second = client.post(
        "/", json=bad, headers={**headers, "X-Cloud-Trace-Context": "abc123/1234;o=1"}
    )
    assert second.status_code == 200
    lines = output.take()
    assert lines
    for line in lines:  # nothing of the first invocation's keys survives
        assert line.get("correlation_id") != "first-message"
        assert "repository" not in line and "digest" not in line
        assert line["logging.googleapis.com/trace"] == "projects/my-project/traces/abc123"
        assert line["logging.googleapis.com/spanId"] == f"{1234:016x}"
    assert [line["severity"] for line in lines if "metric" not in line] == ["ERROR"]
    assert not FULL_HEX.search(json.dumps(lines))
