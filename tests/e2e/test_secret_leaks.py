"""Leak test: a sentinel password kept in Secrets Manager (moto) is used by a CLI copy, a CLI
tree sync and the serverless pipeline (on_ecr_push -> SQS -> replicate), and by failures with
a wrong sentinel; every log record (freightliner, httpx and httpcore at DEBUG, everything else
at INFO), their extra fields, the CLI's output and every exception text are searched for it."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import httpx
import pytest

from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.cli.main import main
from freightliner.domain.errors import FreightlinerError
from freightliner.domain.secrets import SecretRef
from freightliner.harness.functions import forget_roots, load_handler
from freightliner.harness.images import Pusher, RandomBlob
from freightliner.harness.lambda_runtime import LocalContext, drain
from freightliner.harness.local_stack import ECR_CREDS, ECR_HOST, GAR_HOST, LocalStack
from freightliner.harness.registry import LocalRegistry
from tests.support.leaks import everything_logged, watch_logs

SENTINEL = "S3NTINEL-leak-5f1c9a"
WRONG = "S3NTINEL-wrong-77d0e2"
EVENTS = Path(__file__).resolve().parents[2] / "events"
MIRROR = "mirror.example.com"  # a registry whose password only the secret store knows
BROKEN = "broken.example.com"  # same registry, a secret with the wrong password


def test_the_sentinel_never_appears(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    watch_logs(caplog)
    monkeypatch.chdir(tmp_path)  # the sync's checkpoint file
    exceptions: list[str] = []
    outputs: list[str] = []

    def cli(*args: str) -> int:
        code = main(list(args))
        captured = capsys.readouterr()
        outputs.append(captured.out + captured.err)
        return code

    with (
        LocalRegistry(basic_auth=("mirror", SENTINEL)) as mirror,
        LocalStack(tmp_path / "stack", visibility_timeout=1) as stack,
    ):
        stack.apply_env()
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        sm.create_secret(Name="mirror/creds", SecretString=json.dumps({"password": SENTINEL}))
        sm.create_secret(Name="mirror/wrong", SecretString=WRONG)
        registries = stack.workdir / "registries.yaml"
        registries.write_text(
            "registries:\n"
            f"  - host: {ECR_HOST}\n    endpoint: {stack.ecr.url}\n"
            f"  - host: {MIRROR}\n    endpoint: {mirror.url}\n"
            "    auth: {kind: basic, username: mirror, "
            "password_ref: 'aws-sm://mirror/creds#password'}\n"
            f"  - host: {GAR_HOST}\n    endpoint: {mirror.url}\n"
            "    auth: {kind: basic, username: mirror, "
            "password_ref: 'aws-sm://mirror/creds#password'}\n"
            f"  - host: {BROKEN}\n    endpoint: {mirror.url}\n"
            "    auth: {kind: basic, username: mirror, password_ref: 'aws-sm://mirror/wrong'}\n"
        )
        with Pusher(stack.ecr.url, auth=ECR_CREDS) as pusher:
            pushed = pusher.image("team/app", "v1", [RandomBlob(7, 20_000), b"tail"])

        # a CLI copy, verbose, then a failing one
        assert cli("-v", "copy", f"{ECR_HOST}/team/app:v1", f"{MIRROR}/cli/app:v1") == 0
        assert cli("copy", f"{ECR_HOST}/team/app:v1", f"{BROKEN}/cli/app:v2", "--json") == 4

        # a CLI tree sync, from the mirror's catalog to itself (both ends use the sentinel)
        sync_file = tmp_path / "sync.yaml"
        sync_file.write_text(
            "syncs:\n  - name: leak\n"
            f"    source: {{registry: {MIRROR}, prefix: cli}}\n"
            f"    destination: {{registry: {MIRROR}, prefix: synced}}\n"
        )
        assert cli("-v", "sync", str(sync_file)) == 0

        # the pipeline: ECR push event -> on_ecr_push -> SQS -> replicate -> "GAR" (mirror)
        forget_roots()
        event = json.loads((EVENTS / "ecr-push.json").read_text())
        event["detail"].update(
            {"repository-name": "team/app", "image-digest": pushed.digest, "image-tag": "v1"}
        )
        reply = load_handler("on_ecr_push").handler(event, LocalContext())
        assert reply["status"] == "enqueued"
        sqs = boto3.client("sqs", region_name="us-east-1")
        assert drain(sqs, stack.resources.queue_url, load_handler("replicate").handler) == 1  # type: ignore[union-attr]
        outputs.append(capsys.readouterr().out)  # powertools writes JSON lines to stdout
        forget_roots()

        # secrets commands and resolution failures
        assert cli("secrets", "get", "mirror/creds") == 0
        assert cli("secrets", "list") == 0
        container = RegistryClients.from_environment(registries)
        for ref in ("aws-sm://mirror/wrong#password", "aws-sm://mirror/creds#user"):
            try:
                container.credentials.secret_references.resolve(SecretRef.parse(ref))
            except FreightlinerError as exc:
                exceptions += [str(exc), repr(exc), json.dumps(exc.to_dict())]
        credential = container.credentials.provider(MIRROR).get(MIRROR)
        exceptions += [repr(credential), str(credential), credential.model_dump_json()]  # type: ignore[union-attr]

        # it all really happened with the sentinel
        for path in ("cli/app", "synced/app", "my-project/apps/team/app"):
            response = httpx.head(
                f"{mirror.url}/v2/{path}/manifests/v1",
                auth=("mirror", SENTINEL),
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
            )
            assert response.status_code == 200, path
        assert len(exceptions) == 9

    logged = everything_logged(caplog)
    assert "unauthorized" in "\n".join(outputs)  # the failing copy said why
    assert "audit secret_write" not in logged  # reads only: nothing was audited
    haystack = "\n".join([logged, *outputs, *exceptions])
    assert len(caplog.records) > 50  # DEBUG and INFO lines were captured
    assert SENTINEL not in haystack
    assert WRONG not in haystack
