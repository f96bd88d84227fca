"""`freightliner local up/down` and `freightliner invoke`: the pipeline on this machine.

`local up` starts the local stack (moto, a local "ECR" and "GAR", queue and table) and runs
the SQS poller that feeds the `replicate` handler as Lambda's event source mapping would; it
writes the environment other commands need to `<dir>/env`. `invoke` runs any handler once
with an event file against that stack.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from freightliner.domain.errors import FreightlinerError, InvalidInput

DEFAULT_DIR = Path(".freightliner/local")
SAMPLE_REPOSITORY, SAMPLE_TAG = "team/app", "v1"
"""What `local up` pushes to the local "ECR": the image `events/replicate-now.json` names."""


def push_event_file(directory: Path) -> Path:
    """Where `local up` writes the ECR push event of the image it pushed."""
    return directory / "events" / "ecr-push.json"


def _push_sample(stack: Any, directory: Path) -> str:
    """Push the sample image to the local "ECR" and write its push event (the real digest in
    `events/ecr-push.json`'s shape); returns what to tell the user."""
    from freightliner.harness.images import RandomBlob  # noqa: PLC0415 - dev tooling
    from freightliner.harness.local_stack import ECR_HOST  # noqa: PLC0415

    pushed = stack.push_ecr(
        SAMPLE_REPOSITORY, SAMPLE_TAG, [RandomBlob(16, 1024 * 1024), b"freightliner sample"]
    )
    event = {
        "version": "0",
        "id": f"local-push-{pushed.digest.split(':')[1][:12]}",
        "detail-type": "ECR Image Action",
        "source": "aws.ecr",
        "account": ECR_HOST.split(".", 1)[0],
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": ECR_HOST.split(".")[3],
        "resources": [],
        "detail": {
            "result": "SUCCESS",
            "repository-name": SAMPLE_REPOSITORY,
            "image-digest": pushed.digest,
            "action-type": "PUSH",
            "image-tag": SAMPLE_TAG,
        },
    }
    path = push_event_file(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event, indent=2) + "\n")
    return (
        f"pushed {ECR_HOST}/{SAMPLE_REPOSITORY}:{SAMPLE_TAG} ({pushed.digest}) to the local ECR\n"
        f"its push event: {path}\n"
        f"next: freightliner invoke on_ecr_push {path}"
    )


def read_env(directory: Path) -> dict[str, str]:
    path = directory / "env"
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def local_up(directory: Path, detach: bool) -> int:
    if detach:
        directory.mkdir(parents=True, exist_ok=True)
        log = (directory / "stack.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "freightliner.cli.main", "local", "up", "--dir", str(directory)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if (directory / "env").exists():
                print(f"local stack running (pid {process.pid}); environment in {directory}/env")
                print((directory / "sample").read_text(), end="")
                return 0
            time.sleep(0.2)
        raise InvalidInput(f"local stack did not start; see {directory}/stack.log")
    import boto3  # noqa: PLC0415

    from freightliner.harness.functions import load_handler  # noqa: PLC0415 - dev tooling
    from freightliner.harness.lambda_runtime import poll_once  # noqa: PLC0415
    from freightliner.harness.local_stack import LocalStack  # noqa: PLC0415

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with LocalStack(directory.resolve() / "stack") as stack:
        stack.apply_env()
        (directory / "sample").write_text(_push_sample(stack, directory) + "\n")
        (directory / "pid").write_text(str(os.getpid()))
        (directory / "env").write_text("".join(f"{k}={v}\n" for k, v in stack.env.items()))
        print(
            f"local stack up: ECR {stack.ecr.url}, GAR {stack.gar.url}, moto {stack.moto_url}\n"
            + (directory / "sample").read_text(),
            end="",
            flush=True,
        )
        replicate = load_handler("replicate").handler
        sqs = boto3.client("sqs")
        assert stack.resources is not None
        try:
            while not stopping:
                if poll_once(sqs, stack.resources.queue_url, replicate, wait_seconds=1) == 0:
                    time.sleep(0.2)
        finally:
            for name in ("env", "pid", "sample"):
                (directory / name).unlink(missing_ok=True)
    print("local stack down", flush=True)
    return 0


def local_down(directory: Path) -> int:
    pid_file = directory / "pid"
    if not pid_file.exists():
        print("no local stack running")
        return 0
    pid = int(pid_file.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and pid_file.exists():
        time.sleep(0.2)
    print("local stack stopped")
    return 0


def invoke(function: str, event_file: Path, directory: Path) -> int:
    from freightliner.domain.documents import read_document  # noqa: PLC0415
    from freightliner.harness.functions import (  # noqa: PLC0415
        cloud_function_client,
        forget_roots,
        load_handler,
    )
    from freightliner.harness.lambda_runtime import LocalContext  # noqa: PLC0415

    try:
        event: Any = json.loads(read_document(event_file, f"event {event_file}"))
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise InvalidInput(f"event {event_file} is not JSON: {reason}") from None
    os.environ.update(read_env(directory))
    forget_roots()
    if function == "on_gar_push":
        response = cloud_function_client("on_gar_push", "cloudevent").post(
            "/", json=event, headers={"Content-Type": "application/cloudevents+json"}
        )
        result: Any = {"http_status": response.status_code, "body": response.get_json(silent=True)}
    else:
        try:
            handler = load_handler(function).handler
        except FileNotFoundError as exc:
            raise InvalidInput(str(exc)) from None
        result = handler(event, LocalContext())
    print(json.dumps(result, indent=2, default=str))
    return invoke_exit_code(result)


def _kinds(cls: type[FreightlinerError]) -> dict[str, int]:
    found = {cls.kind: cls.exit_code}
    for sub in cls.__subclasses__():
        found.update(_kinds(sub))
    return found


def invoke_exit_code(result: Any) -> int:
    """Non-zero when the handler refused the event (`"status": "rejected"`, the rejecting
    error's exit code, 2 for bad input) or the function answered an HTTP error (1)."""
    if not isinstance(result, dict):
        return 0
    body = result.get("body") if "http_status" in result else result
    if isinstance(body, dict) and body.get("status") == "rejected":
        return _kinds(FreightlinerError).get(str(body.get("error")), InvalidInput.exit_code)
    status = result.get("http_status")
    return 1 if isinstance(status, int) and status >= 400 else 0
