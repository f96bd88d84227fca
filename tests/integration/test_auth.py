"""Every auth kind against real registries: basic, Bearer tokens, docker config, ECR (moto)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import boto3
import httpx
import pytest

from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.cli.main import main
from freightliner.domain.errors import Unauthorized
from freightliner.domain.reference import Reference
from freightliner.domain.secrets import Redacted
from freightliner.engine.copy import Copier
from freightliner.engine.models import CopyOptions
from freightliner.harness.images import Pusher
from freightliner.harness.registry import LocalRegistry
from freightliner.ports.credentials import Credential
from freightliner.registry.auth import RegistryAuth
from freightliner.registry.client import RegistryClient
from freightliner.registry.transport import RegistryTransport
from tests.conftest import AuthRegistry
from tests.support.skopeo import skopeo_digest

ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def seeded(registry: LocalRegistry) -> str:
    with Pusher(registry.url) as pusher:
        pusher.multi_platform("team/app", "v1", platforms=("linux/amd64", "linux/arm64"))
    return f"{registry.host}/team/app:v1"


def test_basic_auth_from_flag_env_and_docker_config(
    seeded: str,
    basic_registry: AuthRegistry,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    host = basic_registry.registry.host
    code, out = run_cli(
        capsys, "copy", seeded, f"{host}/a/app:v1", "--dest-creds", basic_registry.user_pass
    )
    assert code == 0, out
    monkeypatch.setenv("FREIGHTLINER_DEST_CREDS", basic_registry.user_pass)
    code, out = run_cli(capsys, "copy", seeded, f"{host}/b/app:v1")
    assert code == 0, out
    monkeypatch.delenv("FREIGHTLINER_DEST_CREDS")
    auth = base64.b64encode(basic_registry.user_pass.encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    code, out = run_cli(capsys, "copy", seeded, f"{host}/c/app:v1")
    assert code == 0, out
    for repo in ("a", "b", "c"):
        assert skopeo_digest(f"{host}/{repo}/app:v1", basic_registry.creds).startswith("sha256:")


def test_wrong_basic_password_is_a_clear_error_without_the_secret(
    seeded: str, basic_registry: AuthRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    sentinel = "S3NTINEL-wrong-password"
    code, out = run_cli(
        capsys,
        "copy",
        seeded,
        f"{basic_registry.registry.host}/a/app:v1",
        "--dest-creds",
        f"alice:{sentinel}",
    )
    assert code == 4
    assert "unauthorized" in out and "401" in out
    assert sentinel not in out
    code, out = run_cli(capsys, "copy", seeded, f"{basic_registry.registry.host}/a/app:v1")
    assert code == 4 and "authentication failed" in out


def test_bearer_tokens_are_fetched_once_per_scope(
    seeded: str, token_registry: AuthRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = token_registry.tokens
    assert tokens is not None
    host = token_registry.registry.host
    code, out = run_cli(
        capsys, "copy", seeded, f"{host}/team/app:v1", "--dest-creds", token_registry.user_pass
    )
    assert code == 0, out
    # Many requests (HEADs, uploads, manifests), few token fetches: one per scope.
    assert tokens.requests and max(tokens.requests.values()) == 1
    assert set(tokens.requests) <= {"repository:team/app:pull", "repository:team/app:pull,push"}
    source_digest = json.loads(run_cli(capsys, "inspect", "--json", seeded)[1])["digest"]
    assert skopeo_digest(f"{host}/team/app:v1", token_registry.creds) == source_digest


def test_wrong_token_credentials_name_the_user_not_the_password(
    seeded: str, token_registry: AuthRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_cli(
        capsys,
        "copy",
        seeded,
        f"{token_registry.registry.host}/x/app:v1",
        "--dest-creds",
        "bob:S3NTINEL-token",
    )
    assert code == 4
    assert "token service refused user 'bob'" in out
    assert "S3NTINEL" not in out


class RotatingProvider:
    """Gives a stale password until told the registry refused it, then the current one."""

    def __init__(self, stale: str, current: str) -> None:
        self.password = stale
        self.current = current
        self.invalidations = 0

    def get(self, registry: str) -> Credential:
        return Credential(username="alice", password=Redacted(self.password))

    def invalidate(self, registry: str) -> None:
        self.invalidations += 1
        self.password = self.current


def test_a_refused_credential_is_refreshed_once(basic_registry: AuthRegistry) -> None:
    host = basic_registry.registry.host
    provider = RotatingProvider("stale", basic_registry.password)
    auth = RegistryAuth(host, provider, httpx.Client())
    client = RegistryClient(host, RegistryTransport(host, basic_registry.registry.url, auth), 2**27)
    assert list(client.catalog()) == []
    assert list(client.catalog()) == []
    assert provider.invalidations == 1
    provider.current = "also-wrong"
    provider.password = "also-wrong"
    with pytest.raises(Unauthorized):
        client.head_manifest("team/app", "v1")
    assert provider.invalidations == 2  # once more, not a loop
    client.transport.close()


@pytest.fixture
def ecr_registry(tmp_path: Path) -> LocalRegistry:
    """A local registry standing in for ECR: htpasswd holds the password moto's
    GetAuthorizationToken hands out."""
    with LocalRegistry(basic_auth=("AWS", "123456789012-auth-token")) as reg:
        yield reg  # type: ignore[misc]


def test_ecr_destination_creates_the_repository_and_respects_immutability(
    seeded: str,
    registry: LocalRegistry,
    ecr_registry: LocalRegistry,
    moto_endpoint: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "registries.yaml"
    config.write_text(f"registries:\n  - host: {ECR_HOST}\n    endpoint: {ecr_registry.url}\n")
    container = RegistryClients.from_environment(config)
    with Copier(container, CopyOptions()) as copier:
        report = copier.copy(Reference.parse(seeded), Reference.parse(f"{ECR_HOST}/mirror/app:v1"))
    assert container.credentials.ecr_provider.api_calls == 1  # one token for the whole copy
    container.close()
    assert report.status == "copied"
    ecr = boto3.client("ecr", region_name="us-east-1")
    names = [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]
    assert names == ["mirror/app"]

    ecr.create_repository(repositoryName="locked/app", imageTagMutability="IMMUTABLE")
    with Pusher(registry.url) as pusher:
        pusher.image("team/other", "v1", [b"different"])
    args = ["--registries", str(config)]
    code, out = run_cli(capsys, "copy", seeded, f"{ECR_HOST}/locked/app:v1", *args)
    assert code == 0, out
    code, out = run_cli(capsys, "copy", seeded, f"{ECR_HOST}/locked/app:v1", *args)
    assert code == 0 and "up-to-date" in out  # same digest: success
    code, out = run_cli(
        capsys, "copy", f"{registry.host}/team/other:v1", f"{ECR_HOST}/locked/app:v1", *args
    )
    assert code == 6 and "immutable" in out and "refusing to overwrite" in out
