"""`freightliner trace` after a real ECR push went through the real handlers: the intake
wrote the by-trace keys, the handlers' own log lines (shipped to moto's CloudWatch Logs as
Lambda would) carry the fields the saved queries filter on, and the trace joins both."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import boto3
import pytest

from freightliner.adapters.aws.insights_queries import saved_queries
from freightliner.cli.main import main
from tests.e2e.conftest import Stack

GROUPS = {"on_ecr_push": "/aws/lambda/OnEcrPush", "replicate": "/aws/lambda/Replicate"}


@contextmanager
def handler_output() -> Iterator[io.StringIO]:
    """What the handlers' Powertools logger writes (Lambda ships it to CloudWatch)."""
    written = io.StringIO()
    handlers = [
        h
        for h in logging.getLogger("freightliner").handlers
        if isinstance(h, logging.StreamHandler)
    ]
    assert handlers
    before = [h.setStream(written) for h in handlers]
    try:
        yield written
    finally:
        for handler, stream in zip(handlers, before, strict=True):
            if stream is not None:
                handler.setStream(stream)


def log_lines(out: str) -> list[dict[str, Any]]:
    """The log lines (not the metrics documents) among what was written."""
    lines = [json.loads(text) for text in out.splitlines() if text.startswith("{")]
    return [line for line in lines if "message" in line]


def ship(groups: dict[str, list[dict[str, Any]]]) -> None:
    """Each function's lines into its log group, at the times they were written."""
    logs = boto3.client("logs")
    for group, lines in groups.items():
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="s")
        events = [
            {
                "timestamp": int(
                    datetime.strptime(line["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z").timestamp()
                    * 1000
                ),
                "message": json.dumps(line),
            }
            for line in lines
        ]
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)


def test_a_pushed_image_is_traced_by_its_event_and_by_its_digest(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    image = stack.push("team/app", "v1", seed=11)
    event = stack.ecr_event(image, "team/app", "v1")
    with handler_output() as written:
        reply = stack.fire(event)
    intake = log_lines(written.getvalue())
    with handler_output() as written:
        stack.work()
    copy = log_lines(written.getvalue())
    assert intake and copy
    lines = intake + copy
    # What the saved queries filter on: every line of this image carries the event's id and
    # the digest's 12 characters (the trace-by-correlation-id and trace-by-digest queries).
    assert {line.get("correlation_id") for line in lines} == {event["id"]}
    assert {line.get("digest") for line in lines} == {image.digest.split(":")[1][:12]}
    queries = saved_queries()
    assert 'filter correlation_id = "' in queries["freightliner/trace-by-correlation-id"]
    assert 'filter digest = "' in queries["freightliner/trace-by-digest"]

    ship({GROUPS["on_ecr_push"]: intake, GROUPS["replicate"]: copy})
    monkeypatch.setenv("FREIGHTLINER_LOG_GROUPS", ",".join(GROUPS.values()))
    capsys.readouterr()  # the handlers' metrics documents
    assert main(["trace", event["id"], "--json"]) == 0
    timeline = json.loads(capsys.readouterr().out)
    assert timeline["kind"] == "correlation" and timeline["jobs"] == [reply["job_id"]]
    stages = [(e["stage"], e["source"]) for e in timeline["events"]]
    assert stages[:2] == [("received", "state"), ("planned", "state")]
    assert ("done", "state") in stages
    assert any(source == "cloudwatch" for _, source in stages)  # the handlers' own lines
    assert ("received", "cloudwatch") not in stages  # the intake's line: the table has it

    assert main(["trace", image.digest[:20], "--no-logs", "--json"]) == 0
    by_digest = json.loads(capsys.readouterr().out)
    assert by_digest["kind"] == "digest" and by_digest["jobs"] == [reply["job_id"]]
