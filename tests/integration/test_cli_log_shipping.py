"""The CLI's logs: `--log-format json` lines with one correlation id per run, and the same
lines shipped to a CloudWatch log group (moto in server mode, real HTTP), flushed at exit and
on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from freightliner.cli.main import main
from freightliner.harness.images import Pusher
from freightliner.harness.registry import LocalRegistry

GROUP = "/freightliner/cli"


def shipped(group: str = GROUP) -> dict[str, list[dict[str, Any]]]:
    logs = boto3.client("logs", region_name="us-east-1")
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    return {
        s["logStreamName"]: [
            json.loads(e["message"])
            for e in logs.get_log_events(
                logGroupName=group, logStreamName=s["logStreamName"], startFromHead=True
            )["events"]
        ]
        for s in streams
    }


def test_a_copy_logs_json_lines_with_one_correlation_id_and_ships_them(
    moto_endpoint: str,
    registry: LocalRegistry,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FREIGHTLINER_LOG_GROUP", GROUP)
    with Pusher(registry.url) as pusher:
        pusher.image("team/app", "v1", [b"layer one", b"config"])
    src, dst = f"{registry.host}/team/app:v1", f"{registry.host}/mirror/app:v1"
    assert main(["-v", "--log-format", "json", "copy", src, dst, "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    assert lines, "a verbose copy logs"
    ids = {line["correlation_id"] for line in lines}
    assert len(ids) == 1 and re.fullmatch(r"[0-9a-f]{32}", ids.pop())
    copied = [line for line in lines if line["message"].startswith("copied ")]
    assert copied and copied[0]["severity"] == "INFO" and copied[0]["level"] == "INFO"
    assert main(["--log-format", "json", "copy", src, dst, "--json"]) == 0  # another run
    capsys.readouterr()
    streams = shipped()
    assert len(streams) == 2  # one stream per run, named by its correlation id
    for name, events in streams.items():
        assert name.startswith("freightliner-cli/") and events
        assert {event["correlation_id"] for event in events} == {name.rsplit("/", 1)[1]}
    first = next(
        events for name, events in streams.items() if name.endswith(lines[0]["correlation_id"])
    )
    assert [e["message"] for e in first] == [line["message"] for line in lines]


SCRIPT = """
import logging, os, signal, sys, time
from freightliner.cli.log_setup import configure_logging
configure_logging("json", verbose=False)
log = logging.getLogger("freightliner.sync")
for i in range(200):
    log.info("image %d copied", i, extra={"n": i})
print("ready", flush=True)
time.sleep(30)
"""


def test_sigterm_flushes_what_is_queued(
    moto_endpoint: str,
    tmp_path: Path,
) -> None:
    env = {**os.environ, "FREIGHTLINER_LOG_GROUP": GROUP}
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 128 + signal.SIGTERM
        assert time.monotonic() - started < 15
    finally:
        process.kill()
    [events] = shipped().values()
    assert [event["n"] for event in events] == list(range(200))
