"""The audit log group's two ways in, against moto's CloudWatch Logs over HTTP: the
subscription filter's deliveries through the deployed `audit_writer` handler (audit lines as
the functions write them, unchanged and in order, one stream per source group and day), and
the CLI's own audit events (a secret write) shipped where FREIGHTLINER_AUDIT_LOG_GROUP says."""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
from pathlib import Path
from typing import Any

import boto3
import pytest

from freightliner.bootstrap.lambda_root import forget_lambda_root
from freightliner.cli.main import main
from freightliner.engine.audit import AuditEvent, AuditTrigger, emit
from freightliner.harness.functions import load_handler
from freightliner.harness.lambda_runtime import LocalContext
from freightliner.observability import logger

AUDIT_GROUP = "/freightliner/audit"
SOURCE_GROUP = "/aws/lambda/freightliner-replicate"


def audit_lines(count: int) -> list[str]:
    """`count` audit events exactly as the functions' logger writes them."""
    buffer = io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(buffer)
    try:
        for n in range(count):
            emit(
                AuditEvent(
                    audit="copy",
                    trigger=AuditTrigger(job_id=f"evt-{n}", rule="mirror"),
                    source=f"src.test/team/app@sha256:{'a' * 64}",
                    destination=f"dst.test/mirror/app:v{n}",
                    digest="a" * 12,
                    outcome="done",
                )
            )
    finally:
        handler.setStream(previous)
    return buffer.getvalue().splitlines()


def subscription(messages: list[str], kind: str = "DATA_MESSAGE") -> dict[str, Any]:
    document = {
        "messageType": kind,
        "owner": "123456789012",
        "logGroup": SOURCE_GROUP,
        "logStream": "2026/11/25/[$LATEST]abc",
        "subscriptionFilters": ["ReplicateAuditSubscription"],
        "logEvents": [
            {"id": str(n), "timestamp": 1_795_600_000_000 + n, "message": m}
            for n, m in enumerate(messages)
        ],
    }
    data = base64.b64encode(gzip.compress(json.dumps(document).encode())).decode()
    return {"awslogs": {"data": data}}


def read_group(group: str) -> dict[str, list[str]]:
    logs = boto3.client("logs", region_name="us-east-1")
    return {
        s["logStreamName"]: [
            e["message"]
            for e in logs.get_log_events(
                logGroupName=group, logStreamName=s["logStreamName"], startFromHead=True
            )["events"]
        ]
        for s in logs.describe_log_streams(logGroupName=group)["logStreams"]
    }


@pytest.fixture
def writer(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("FREIGHTLINER_AUDIT_LOG_GROUP", AUDIT_GROUP)
    boto3.client("logs", region_name="us-east-1").create_log_group(logGroupName=AUDIT_GROUP)
    forget_lambda_root()
    yield load_handler("audit_writer")
    forget_lambda_root()


def test_subscribed_audit_lines_land_unchanged_and_in_order(writer: Any) -> None:
    lines = audit_lines(3)
    assert all(json.loads(line)["log_type"] == "AUDIT" for line in lines)
    reply = writer.handler(subscription(lines), LocalContext())
    assert reply == {
        "status": "written",
        "events": 3,
        "stream": "2026/11/25/aws/lambda/freightliner-replicate",
    }
    assert read_group(AUDIT_GROUP) == {reply["stream"]: lines}
    events = [json.loads(line) for line in lines]
    assert [e["trigger"]["job_id"] for e in events] == ["evt-0", "evt-1", "evt-2"]
    assert all(e["source"].endswith("@sha256:" + "a" * 12) for e in events)


def test_control_messages_are_ignored_and_garbage_is_rejected(writer: Any) -> None:
    reply = writer.handler(subscription([], kind="CONTROL_MESSAGE"), LocalContext())
    assert reply == {"status": "ignored", "events": 0}
    reply = writer.handler({"awslogs": {"data": "bm90IGd6aXA="}}, LocalContext())
    assert reply["status"] == "rejected" and reply["error"] == "invalid_input"
    assert read_group(AUDIT_GROUP) == {}


def test_a_cli_secret_write_reaches_the_audit_group(
    moto_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FREIGHTLINER_AUDIT_LOG_GROUP", AUDIT_GROUP)
    value = tmp_path / "v"
    value.write_text("never-in-the-trail")
    assert main(["secrets", "put", "registry/ghcr", "--value-file", str(value)]) == 0
    capsys.readouterr()
    [messages] = read_group(AUDIT_GROUP).values()
    [event] = [json.loads(m) for m in messages]
    assert event["audit"] == "secret_write" and event["outcome"] == "success"
    assert event["detail"]["secret"] == "registry/ghcr"
    assert event["trigger"]["principal"].startswith("arn:aws:")
    assert "never-in-the-trail" not in json.dumps(event)
