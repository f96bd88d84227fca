"""`freightliner local up --detach`, `invoke` and `local down`, as a person would run them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from freightliner.harness.functions import EVENTS
from freightliner.harness.images import OCI_MANIFEST, Pusher
from freightliner.harness.local_stack import ECR_CREDS, ECR_HOST, GAR_HOST


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "freightliner.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_local_stack_runs_the_pipeline_from_the_command_line(tmp_path: Path) -> None:
    state = tmp_path / "local"
    up = cli("local", "up", "--detach", "--dir", str(state))
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        env = dict(line.split("=", 1) for line in (state / "env").read_text().splitlines())
        registries = yaml.safe_load(Path(env["FREIGHTLINER_REGISTRIES"]).read_text())
        endpoints = {r["host"]: r["endpoint"] for r in registries["registries"]}
        with Pusher(endpoints[ECR_HOST], auth=ECR_CREDS) as pusher:
            image = pusher.image("team/cli", "v1", [b"from the command line"])
        event = json.loads((EVENTS / "ecr-push.json").read_text())
        event["detail"].update({"repository-name": "team/cli", "image-digest": image.digest})
        event_file = tmp_path / "event.json"
        event_file.write_text(json.dumps(event))
        invoked = cli("invoke", "on_ecr_push", str(event_file), "--dir", str(state))
        assert invoked.returncode == 0, invoked.stderr
        reply = json.loads(invoked.stdout[invoked.stdout.rindex("{\n") :])  # after the log lines
        assert reply["status"] == "enqueued"
        url = f"{endpoints[GAR_HOST]}/v2/my-project/apps/team/cli/manifests/v1"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            head = httpx.head(url, headers={"Accept": OCI_MANIFEST})
            if head.status_code == 200:
                break
            time.sleep(0.3)
        assert head.headers.get("Docker-Content-Digest") == image.digest
        unknown = cli("invoke", "nope", str(event_file), "--dir", str(state))
        assert unknown.returncode == 2 and "no Lambda function 'nope'" in unknown.stderr
    finally:
        down = cli("local", "down", "--dir", str(state))
    assert down.returncode == 0 and not (state / "pid").exists()
