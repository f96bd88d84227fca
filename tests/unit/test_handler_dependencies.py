"""Handlers receive their dependencies: a test builds them from in-memory parts and plain
settings, with no FREIGHTLINER_* variable set; and importing a handler (a cold start) loads no
cloud SDK, HTTP client or adapter before its first invocation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from freightliner.bootstrap.lambda_root import LambdaRoot
from freightliner.domain.errors import ConfigurationError
from freightliner.domain.events import ImageEvent
from freightliner.domain.rules import parse_rules
from freightliner.engine.events.intake import IntakeResult, accept_event
from freightliner.harness.functions import EVENTS, FUNCTIONS, load_handler
from freightliner.harness.lambda_runtime import LocalContext
from freightliner.settings import Settings
from tests.unit.test_intake_and_leases import FakeQueue, FakeState

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
RULES = f"""
rules:
  - name: team-to-ghcr
    source: {{registry: {ECR}, repository: 'team/*'}}
    destinations: [{{registry: ghcr.io, repository: 'mirror/{{name}}'}}]
"""
# Loaded only on first use: a handler module's import must not pull them in.
HEAVY = (
    "boto3",
    "httpx",
    "aws_xray_sdk",
    "google.auth",
    "google.cloud.pubsub_v1",
    "google.cloud.secretmanager",
    "freightliner.adapters",
    "freightliner.registry",
    "aws_lambda_powertools.utilities.batch",
)
LOADED = """
import importlib.util, json, sys
path = sys.argv[1]
if path == "cli":
    from freightliner.cli import main
    main.build_parser()
else:
    spec = importlib.util.spec_from_file_location("handler_under_test", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps(sorted(n for n, m in sys.modules.items() if m is not None)))  # None: kept out
"""


@pytest.fixture
def no_settings_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FREIGHTLINER_"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("no_settings_in_environment")
def test_the_ecr_push_handler_runs_on_an_intake_built_from_in_memory_parts() -> None:
    queue, state = FakeQueue(), FakeState()
    rules = parse_rules(RULES, "test rules")
    calls: list[tuple[str, Any]] = []

    def accept(event: ImageEvent, correlation_id: str, context: Any) -> IntakeResult:
        calls.append((correlation_id, context))
        return accept_event(
            event, rules, queue=queue, state=state, gate=None, correlation_id=correlation_id
        )

    event = json.loads((EVENTS / "ecr-push.json").read_text())
    context = LocalContext()
    reply = load_handler("on_ecr_push").handle(event, context, accept)

    assert reply["status"] == "enqueued" and reply["items"] == 1
    [item] = queue.sent
    assert item.destination == "ghcr.io/mirror/app:v1"
    assert item.source.startswith(f"{ECR}/team/app@sha256:7f5b2640")
    assert calls == [(event["id"], context)]  # the event id correlates the work
    assert state.jobs[reply["job_id"]].total == 1


@pytest.mark.usefixtures("no_settings_in_environment")
def test_a_root_built_from_settings_names_what_a_part_lacks_before_building_it() -> None:
    root = LambdaRoot(Settings(region="eu-west-1"))
    with pytest.raises(ConfigurationError, match="FREIGHTLINER_QUEUE_URL is not set"):
        root.queue  # noqa: B018 - building it is the point
    with pytest.raises(ConfigurationError, match="FREIGHTLINER_SCAN_GATE_ARN is not set"):
        root.gate_to_wake()
    assert "aws" not in vars(root)  # nothing asked for AWS clients yet


@pytest.mark.parametrize(
    "target",
    [*sorted(str(p) for p in FUNCTIONS.glob("*/app.py")), "cli"],
    ids=lambda t: t if t == "cli" else t.split("/")[-2],
)
def test_a_cold_start_loads_no_sdk_http_client_or_adapter(target: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOADED, target], capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    heavy = [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == []
    assert "freightliner.bootstrap.registry_clients" not in loaded
    if target == "cli":  # `--help` builds no pydantic model (a quarter of a second)
        assert [m for m in loaded if m == "pydantic" or m == "freightliner.settings"] == []


def test_the_clis_job_statuses_are_the_domains() -> None:
    """`jobs list --status` spells the statuses out (no pydantic for `--help`): the same set."""
    from freightliner.cli.sync_commands import JOB_STATUSES  # noqa: PLC0415
    from freightliner.domain.jobs import JobStatus  # noqa: PLC0415

    assert list(JOB_STATUSES) == [s.value for s in JobStatus]


PLAIN_COPY = """
import json, sys
from freightliner.bootstrap import cli_root
import freightliner.cli.main, freightliner.engine.copying.copy
clients = cli_root.registry_clients()
clients.client("registry.example:5000")
clients.credentials.provider("registry.example:5000").get("registry.example:5000")
print(json.dumps(sorted(n for n, m in sys.modules.items() if m is not None)))
"""


@pytest.mark.usefixtures("no_settings_in_environment")
def test_a_command_between_plain_registries_loads_no_aws_sdk_nor_httpx_own_cli() -> None:
    """botocore and httpx's command line (rich, click) are a quarter of the CLI's start-up;
    a copy that names no ECR host nor secret reference needs neither."""
    done = subprocess.run(
        [sys.executable, "-c", PLAIN_COPY], capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    assert "httpx" in loaded and "freightliner.registry.client" in loaded  # it did load the path
    assert [m for m in loaded if m.split(".")[0] in {"botocore", "boto3", "rich", "click"}] == []
