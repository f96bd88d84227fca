"""`freightliner local up --detach`, `invoke` and `local down`, as a person would run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
import yaml

from freightliner.harness.functions import EVENTS
from freightliner.harness.images import OCI_MANIFEST, Pusher
from freightliner.harness.local_stack import ECR_CREDS, ECR_HOST, GAR_HOST


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "freightliner.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def wait_for(url: str) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        response = httpx.head(url, headers={"Accept": OCI_MANIFEST})
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


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
        head = wait_for(f"{endpoints[GAR_HOST]}/v2/my-project/apps/team/cli/manifests/v1")
        assert head.headers.get("Docker-Content-Digest") == image.digest

        # A tree sync started from the command line runs on the same local pipeline.
        ecr = boto3.client(
            "ecr",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        ecr.create_repository(repositoryName="team/cli")  # ECR's control plane sees the push
        ecr.put_image(
            repositoryName="team/cli",
            imageManifest=image.data.decode(),
            imageManifestMediaType=image.media_type,
            imageTag="v1",
            imageDigest=image.digest,
        )
        syncs = tmp_path / "syncs.yaml"
        syncs.write_text(
            json.dumps(
                {
                    "syncs": [
                        {
                            "name": "cli-tree",
                            "source": {"registry": ECR_HOST, "prefix": "team"},
                            "destination": {"registry": GAR_HOST, "prefix": "my-project/tree"},
                        }
                    ]
                }
            )
        )
        started = cli("tree", "start", str(syncs), env=env)
        assert started.returncode == 0 and "cli-tree: started job tree-cli-tree-" in started.stdout
        head = wait_for(f"{endpoints[GAR_HOST]}/v2/my-project/tree/cli/manifests/v1")
        assert head.headers.get("Docker-Content-Digest") == image.digest
        unknown = cli("invoke", "nope", str(event_file), "--dir", str(state))
        assert unknown.returncode == 2 and "no Lambda function 'nope'" in unknown.stderr
    finally:
        down = cli("local", "down", "--dir", str(state))
    assert down.returncode == 0 and not (state / "pid").exists()


def test_the_readme_walkthrough_works_as_written(tmp_path: Path) -> None:
    """`local up` pushes the sample image and writes its push event; both invokes succeed."""
    state = tmp_path / "local"
    up = cli("local", "up", "--detach", "--dir", str(state))
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        event_file = state / "events" / "ecr-push.json"
        assert f"pushed {ECR_HOST}/team/app:v1 (sha256:" in up.stdout
        assert f"next: freightliner invoke on_ecr_push {event_file}" in up.stdout
        digest = json.loads(event_file.read_text())["detail"]["image-digest"]
        invoked = cli("invoke", "on_ecr_push", str(event_file), "--dir", str(state))
        assert invoked.returncode == 0, invoked.stderr
        assert json.loads(invoked.stdout[invoked.stdout.rindex("{\n") :])["status"] == "enqueued"
        env = dict(line.split("=", 1) for line in (state / "env").read_text().splitlines())
        deadline = time.monotonic() + 30
        while True:  # the poller's replicate copies it to the local GAR
            mirrored = cli("digest", f"{GAR_HOST}/my-project/apps/team/app:v1", env=env)
            if mirrored.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert mirrored.stdout.strip() == digest, mirrored.stderr
        now = cli(
            "invoke", "replicate_now", str(EVENTS / "replicate-now.json"), "--dir", str(state)
        )
        assert now.returncode == 0, now.stderr
        reply = json.loads(now.stdout[now.stdout.rindex("{\n") :])
        assert (reply["status"], reply["digest"]) == ("copied", digest)
    finally:
        down = cli("local", "down", "--dir", str(state))
    assert down.returncode == 0 and "local stack stopped" in down.stdout
