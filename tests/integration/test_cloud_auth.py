"""Cloud auth against real pieces: GAR through workload identity federation (google-auth signs
the AWS request, the loopback fake plays Google STS) and through a service-account key kept in
AWS Secrets Manager (moto); the bounded metadata-server probe; ECR through an assumed role
(moto STS) with the session reused."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

from freightliner.adapters.gcp import google_credentials
from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.domain.errors import Unauthorized
from freightliner.domain.reference import Reference
from freightliner.engine.copy import Copier
from freightliner.engine.models import CopyOptions
from freightliner.harness.images import Pusher
from freightliner.harness.registry import LocalRegistry
from tests.support.google_fake import GoogleFake, serve_google_fake

GAR = "europe-docker.pkg.dev"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.fixture
def google() -> Iterator[GoogleFake]:
    yield from serve_google_fake()


@pytest.fixture
def seeded(registry: LocalRegistry) -> str:
    with Pusher(registry.url) as pusher:
        pusher.image("team/app", "v1", [b"gar-layer"])
    return f"{registry.host}/team/app:v1"


def _copy_to(config: Path, seeded: str, destination: str) -> RegistryClients:
    container = RegistryClients.from_environment(config)
    try:
        with Copier(container, CopyOptions()) as copier:
            report = copier.copy(Reference.parse(seeded), Reference.parse(destination))
    finally:
        container.close()
    assert report.status == "copied"
    return container


def test_gar_through_workload_identity_federation_from_aws(
    google: GoogleFake, seeded: str, moto_endpoint: str, tmp_path: Path
) -> None:
    """An AWS Lambda's own credentials are exchanged for a Google token: no long-lived key."""
    config_file = tmp_path / "wif.json"
    config_file.write_text(json.dumps(google.external_account_config()))
    with LocalRegistry(basic_auth=("oauth2accesstoken", google.access_token)) as gar:
        config = tmp_path / "registries.yaml"
        config.write_text(
            f"registries:\n  - host: {GAR}\n    endpoint: {gar.url}\n"
            f"    auth: {{kind: gar, credentials_ref: 'file://{config_file}'}}\n"
        )
        _copy_to(config, seeded, f"{GAR}/proj/mirror/app:v1")
    [exchange] = google.exchanges  # one token for the whole copy
    assert exchange["audience"].endswith("/providers/lambda")
    assert "sts.us-east-1.amazonaws.com" in exchange["url"]  # a signed GetCallerIdentity


def test_gar_with_a_service_account_key_from_aws_secrets_manager(
    google: GoogleFake, seeded: str, moto_endpoint: str, tmp_path: Path
) -> None:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.create_secret(Name="gar/key", SecretString=json.dumps(google.service_account_key()))
    with LocalRegistry(basic_auth=("oauth2accesstoken", google.access_token)) as gar:
        config = tmp_path / "registries.yaml"
        config.write_text(
            f"registries:\n  - host: {GAR}\n    endpoint: {gar.url}\n"
            "    auth: {kind: gar, credentials_ref: 'aws-sm://gar/key'}\n"
        )
        _copy_to(config, seeded, f"{GAR}/proj/mirror/app:v1")
    assert ("POST", "/token") in google.requests  # the key's JWT grant at its token_uri


@pytest.fixture
def no_google_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("NO_GCE_CHECK", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))


def test_a_silent_metadata_server_costs_at_most_2_s(
    no_google_files: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        monkeypatch.setenv("GCE_METADATA_IP", f"127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()
        with pytest.raises(Unauthorized) as info:
            google_credentials.application_default()
        elapsed = time.monotonic() - started
    assert 1.9 <= elapsed < 3.0
    message = str(info.value)
    assert "GOOGLE_APPLICATION_CREDENTIALS is not set" in message
    assert "no gcloud application-default credentials" in message
    assert "no metadata server answered within 2 s" in message


def test_a_metadata_server_that_answers_gives_compute_credentials(
    no_google_files: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Metadata(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.headers.get("Metadata-Flavor") == "Google" else 403)
            self.send_header("Metadata-Flavor", "Google")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Metadata)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("GCE_METADATA_IP", f"127.0.0.1:{server.server_address[1]}")
    try:
        credentials = google_credentials.application_default()
    finally:
        server.shutdown()
        server.server_close()
    assert type(credentials).__name__ == "MetadataCredentials"


@pytest.fixture
def ecr_registry() -> Iterator[LocalRegistry]:
    with LocalRegistry(basic_auth=("AWS", "123456789012-auth-token")) as reg:
        yield reg


def test_ecr_through_an_assumed_role_reuses_the_session(
    seeded: str, ecr_registry: LocalRegistry, moto_endpoint: str, tmp_path: Path
) -> None:
    role = boto3.client("iam").create_role(
        RoleName="mirror", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )["Role"]["Arn"]
    config = tmp_path / "registries.yaml"
    config.write_text(
        f"registries:\n  - host: {ECR}\n    endpoint: {ecr_registry.url}\n"
        f"    auth: {{kind: ecr, role_arn: '{role}'}}\n"
    )
    container = _copy_to(config, seeded, f"{ECR}/mirror/app:v1")
    provider = container.credentials.ecr_provider
    provider.invalidate(ECR)  # a 401 would do this: a new token, through the same session
    assert provider.get(ECR) is not None
    assert provider.api_calls == 2
    assert container.aws.assume_role_calls == 1
    names = [
        r["repositoryName"]
        for r in boto3.client("ecr", region_name="us-east-1").describe_repositories()[
            "repositories"
        ]
    ]
    assert names == ["mirror/app"]  # created through the role's session
