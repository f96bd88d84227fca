"""The as-deployed tier: every function runs in a subprocess of a clean virtualenv holding only
what ships (tests/deployed/environments.py), against moto server, docker-registry instances,
the token-checking Google fake and the Pub/Sub REST fake that this (dev) process starts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from freightliner.harness.functions import forget_roots
from freightliner.harness.images import OCI_MANIFEST, Pushed, RandomBlob
from freightliner.harness.lambda_runtime import drain
from freightliner.harness.local_stack import ECR_HOST, GAR_HOST, LocalStack
from freightliner.harness.registry import LocalRegistry, free_port
from tests.deployed.environments import ROOT, gcp_source, package, shipped_venv
from tests.support.google_fake import GoogleFake, serve_google_fake_as_adc

FUNCTIONS = ROOT / "functions"
RUNNER = Path(__file__).with_name("lambda_runner.py")
# What a function's environment may hold from this process: the stack's endpoints and
# settings, never the dev virtualenv's paths.
PASSED_ON = ("AWS_", "FREIGHTLINER_", "GOOGLE_", "GCE_", "POWERTOOLS_", "MOTO_")


def function_env(name: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith(PASSED_ON)}
    env.update(
        PATH="/usr/local/bin:/usr/bin:/bin",
        HOME=os.environ.get("HOME", "/tmp"),
        LANG="C.UTF-8",
        PYTHONNOUSERSITE="1",
        AWS_LAMBDA_FUNCTION_NAME=name,
        POWERTOOLS_SERVICE_NAME="freightliner",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_NAMESPACE="Freightliner",
    )
    env.update(extra)
    return env


def _error_type(name: str) -> type[Exception]:
    """An exception class named as the function's error, so a state machine's Retry/Catch on
    `errorType` sees what the Lambda service would report."""
    return type(name, (Exception,), {})


@dataclass
class DeployedLambdas:
    python: Path
    layer: Path
    invocations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def command(self, name: str, event_path: Path, result_path: Path) -> list[str]:
        function_dir = FUNCTIONS / name
        return [
            str(self.python),
            str(RUNNER),
            str(function_dir),
            str(self.layer),
            str(event_path),
            str(result_path),
        ]

    def start(self, name: str, event: Any, scratch: Path, **env: str) -> subprocess.Popen[str]:
        """An invocation left running (to be killed); its result lands in scratch/result.json."""
        event_path = scratch / "event.json"
        event_path.write_text(json.dumps(event))
        return subprocess.Popen(
            self.command(name, event_path, scratch / "result.json"),
            env=function_env(name, **env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def invoke(self, name: str, event: Any, timeout: float = 120, **env: str) -> dict[str, Any]:
        """`{"result": …}` or `{"errorType": …, "errorMessage": …}`, as Lambda reports it."""
        with tempfile.TemporaryDirectory() as scratch:
            event_path, result_path = Path(scratch, "event.json"), Path(scratch, "result.json")
            event_path.write_text(json.dumps(event))
            run = subprocess.run(
                self.command(name, event_path, result_path),
                env=function_env(name, **env),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            if not result_path.exists():
                raise AssertionError(f"{name} died (exit {run.returncode}):\n{run.stderr[-3000:]}")
            outcome: dict[str, Any] = json.loads(result_path.read_text())
        self.invocations.append((name, outcome))
        return outcome

    def handler(self, name: str, **env: str) -> Callable[[Any, Any], Any]:
        """The deployed function as an in-process handler (for SQS pollers and moto's Step
        Functions): its result, or its error raised under the error's own type name."""

        def call(event: Any, context: Any = None) -> Any:
            outcome = self.invoke(name, event, **env)
            if "errorType" in outcome:
                raise _error_type(outcome["errorType"])(outcome["errorMessage"])
            return outcome["result"]

        return call


@pytest.fixture(scope="session")
def lambda_layer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the venv's python, the package layer directory), built once per session."""
    venv = shipped_venv(gcp=False)
    layer = tmp_path_factory.mktemp("opt-python")
    package(layer)
    return venv / "bin" / "python", layer


@pytest.fixture
def deployed(lambda_layer: tuple[Path, Path]) -> DeployedLambdas:
    return DeployedLambdas(*lambda_layer)


@pytest.fixture(scope="session")
def gcp_function_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the Cloud Function venv, its source directory as `make gcp-source` assembles it)."""
    venv = shipped_venv(gcp=True)
    source = tmp_path_factory.mktemp("gcp") / "source"
    gcp_source(source)
    return venv, source


@pytest.fixture
def no_answer() -> Iterator[str]:
    """An endpoint that accepts connections and never answers: a call to it hangs."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        yield f"http://127.0.0.1:{silent.getsockname()[1]}"


@dataclass
class CloudFunction:
    """functions-framework serving the assembled Cloud Function source over real HTTP, in the
    virtualenv built from its requirements.txt."""

    venv: Path
    source: Path
    target: str
    signature: str
    env: dict[str, str] = field(default_factory=dict)
    drop: tuple[str, ...] = ()  # variables this process has that the function must not
    url: str = ""
    process: subprocess.Popen[bytes] | None = None
    output: Path | None = None  # where its stdout (the log lines) goes, when a test reads them

    def start(self, **env: str) -> CloudFunction:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        environment = function_env(self.target, **{**self.env, **env})
        for name in self.drop:
            environment.pop(name, None)
        self.process = subprocess.Popen(
            [
                str(self.venv / "bin" / "functions-framework"),
                "--target",
                self.target,
                "--signature-type",
                self.signature,
                "--source",
                str(self.source / "main.py"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=self.source,
            env=environment,
            stdout=self.output.open("ab") if self.output else subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: gunicorn's workers die with it
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return self
            except OSError:
                assert self.process.poll() is None, f"{self.target} exited at start"
                assert time.monotonic() < deadline, f"{self.target} did not listen"
                time.sleep(0.2)

    def post(self, body: Any, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.url, json=body, timeout=60, **kwargs)

    def kill(self) -> None:
        """SIGKILL: the instance vanishes mid-request, as a scaled-in or crashed one does."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


TOPIC = "projects/my-project/topics/gcr"
SUBSCRIPTION = "projects/my-project/subscriptions/freightliner"
GAR_KEY_REF = "gcp-sm://projects/proj/secrets/gar-key"
RULES = f"""\
rules:
  - name: ecr-to-gar
    source: {{registry: {ECR_HOST}, repository: "team/**"}}
    destinations: [{{registry: {GAR_HOST}, repository: "my-project/apps/{{repository}}"}}]
  - name: gar-to-ecr
    source: {{registry: {GAR_HOST}, repository: "my-project/apps/**"}}
    destinations: [{{registry: {ECR_HOST}, repository: "from-gar/{{name}}"}}]
  - name: gated
    source: {{registry: {ECR_HOST}, repository: "secure/**"}}
    destinations: [{{registry: {GAR_HOST}, repository: "my-project/secure/{{repository}}"}}]
    scan_gate: {{first_wait_seconds: 60, max_wait_seconds: 60, timeout_seconds: 120}}
"""


@dataclass
class Shipped:
    local: LocalStack
    gar: LocalRegistry  # takes only `oauth2accesstoken` + the Google fake's access token
    google: GoogleFake
    deployed: DeployedLambdas
    sqs: Any

    @property
    def gar_auth(self) -> tuple[str, str]:
        return ("oauth2accesstoken", self.google.access_token)

    def push_ecr(self, repository: str, tag: str, seed: int) -> Pushed:
        return self.local.push_ecr(repository, tag, [RandomBlob(seed, 30_000), b"tail"])

    def work(self) -> int:
        """Deliver the work queue to the deployed `replicate` until it answers empty."""
        assert self.local.resources is not None
        return drain(self.sqs, self.local.resources.queue_url, self.deployed.handler("replicate"))

    def digest_in(self, url: str, repository: str, tag: str, auth: tuple[str, str]) -> str | None:
        found = httpx.head(
            f"{url}/v2/{repository}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}, auth=auth
        )
        return found.headers.get("Docker-Content-Digest") if found.status_code == 200 else None


@pytest.fixture
def shipped(
    deployed: DeployedLambdas, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Shipped]:
    for google in serve_google_fake_as_adc(tmp_path, monkeypatch):
        google.put_secret("proj", "gar-key", json.dumps(google.service_account_key()).encode())
        with (
            LocalStack(tmp_path / "stack", rules=RULES, visibility_timeout=1) as local,
            LocalRegistry(basic_auth=("oauth2accesstoken", google.access_token)) as gar,
        ):
            (tmp_path / "stack" / "registries.yaml").write_text(
                "registries:\n"
                f"  - host: {ECR_HOST}\n    endpoint: {local.ecr.url}\n"
                f"  - host: {GAR_HOST}\n    endpoint: {gar.url}\n"
                f"    auth: {{kind: gar, credentials_ref: '{GAR_KEY_REF}'}}\n"
            )
            local.apply_env()
            forget_roots()
            try:
                yield Shipped(local, gar, google, deployed, boto3.client("sqs"))
            finally:
                forget_roots()


ROLE = "arn:aws:iam::123456789012:role/freightliner-gcp-functions"
# On Google Cloud: no key file, no AWS keys; the metadata server is the fake.
NOT_ON_GCP = ("GOOGLE_APPLICATION_CREDENTIALS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def gcp_function(
    source: tuple[Path, Path], shipped: Shipped, target: str, signature: str
) -> CloudFunction:
    venv, directory = source
    google = shipped.google
    return CloudFunction(
        venv,
        directory,
        target,
        signature,
        env={
            "FREIGHTLINER_AWS_ROLE_ARN": ROLE,
            "GCE_METADATA_HOST": google.host,
            "GCE_METADATA_IP": google.host,
            "FREIGHTLINER_REGISTRIES": str(shipped.local.workdir / "registries-gcp.yaml"),
        },
        drop=NOT_ON_GCP,
    )


@pytest.fixture
def on_gcp(shipped: Shipped) -> Shipped:
    """GAR with application-default credentials: on Google Cloud, the metadata server's."""
    (shipped.local.workdir / "registries-gcp.yaml").write_text(
        "registries:\n"
        f"  - host: {ECR_HOST}\n    endpoint: {shipped.local.ecr.url}\n"
        f"  - host: {GAR_HOST}\n    endpoint: {shipped.gar.url}\n    auth: {{kind: gar}}\n"
    )
    return shipped
