"""Credential providers: caching, single-flight refresh, parsing, redaction (no network)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from google.auth.exceptions import RefreshError, TransportError

from freightliner.adapters.aws.ecr_auth import EcrCredentialProvider, EcrTarget
from freightliner.adapters.gcp.gar_auth import GarCredentialProvider
from freightliner.adapters.local.static_creds import (
    AnonymousProvider,
    ChainCredentialProvider,
    DockerConfigCredentialProvider,
    StaticCredentialProvider,
    parse_user_pass,
)
from freightliner.domain.errors import InvalidInput, Unauthorized, Unavailable
from freightliner.domain.secrets import Redacted
from freightliner.ports.credentials import Credential

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


class FakeEcr:
    """Answers GetAuthorizationToken like moto does: an expiresAt in 2015."""

    def __init__(self, expires: dt.datetime, delay: float = 0.0) -> None:
        self.calls: list[list[str]] = []
        self.expires = expires
        self.delay = delay

    def get_authorization_token(self, registryIds: list[str]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(registryIds)
        time.sleep(self.delay)
        token = base64.b64encode(f"AWS:pw-{len(self.calls)}".encode()).decode()
        return {"authorizationData": [{"authorizationToken": token, "expiresAt": self.expires}]}


class FakeClients:
    """An AwsClientSource handing out one fake client; records regions, roles and renewals."""

    def __init__(self, client: Any) -> None:
        self.fake = client
        self.asked: list[tuple[str, str, str | None]] = []
        self.renewed: list[tuple[str, str, str | None]] = []

    def client(self, service: str, region: str, role_arn: str | None = None) -> Any:
        self.asked.append((service, region, role_arn))
        return self.fake

    def renew(self, service: str, region: str, role_arn: str | None = None) -> None:
        self.renewed.append((service, region, role_arn))


def test_ecr_token_in_the_past_is_cached_not_refetched_in_a_loop() -> None:
    fake = FakeEcr(dt.datetime(2015, 1, 1, tzinfo=dt.UTC))
    provider = EcrCredentialProvider(FakeClients(fake))
    first = provider.get(ECR)
    for _ in range(100):
        assert provider.get(ECR) == first
    assert fake.calls == [["123456789012"]]
    assert first is not None and first.username == "AWS"
    provider.invalidate(ECR)
    second = provider.get(ECR)
    assert second is not None and second.password.get_secret_value() == "pw-2"
    assert len(fake.calls) == 2


def test_ecr_token_refreshes_15_minutes_before_expiry() -> None:
    now = [1_000_000.0]
    expires = dt.datetime.fromtimestamp(now[0] + 3600, dt.UTC)
    fake = FakeEcr(expires)
    provider = EcrCredentialProvider(FakeClients(fake), clock=lambda: now[0])
    provider.get(ECR)
    now[0] += 3600 - 901
    provider.get(ECR)
    assert len(fake.calls) == 1
    now[0] += 2
    provider.get(ECR)
    assert len(fake.calls) == 2


def test_ecr_concurrent_callers_share_one_api_call() -> None:
    fake = FakeEcr(dt.datetime.now(dt.UTC) + dt.timedelta(hours=12), delay=0.05)
    provider = EcrCredentialProvider(FakeClients(fake))
    results: list[Credential | None] = []
    threads = [threading.Thread(target=lambda: results.append(provider.get(ECR))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.calls) == 1 and len(set(map(repr, results))) == 1


def test_ecr_cross_account_and_mapped_hosts() -> None:
    fake = FakeEcr(dt.datetime(2015, 1, 1, tzinfo=dt.UTC))
    clients = FakeClients(fake)
    role = "arn:aws:iam::210987654321:role/mirror"
    provider = EcrCredentialProvider(
        clients,
        {
            "127.0.0.1:5000": EcrTarget("210987654321", "eu-west-1"),
            "127.0.0.1:5001": EcrTarget("210987654321", "eu-west-1", role),
        },
    )
    provider.get("210987654321.dkr.ecr.ap-south-1.amazonaws.com")
    provider.get("127.0.0.1:5000")
    # Tokens are per registry id: a host mapped onto the same account reuses the token...
    assert fake.calls == [["210987654321"]]
    assert clients.asked == [("ecr", "ap-south-1", None)]
    # ...unless it is reached through a role, whose token is its own.
    provider.get("127.0.0.1:5001")
    assert fake.calls == [["210987654321"]] * 2
    assert clients.asked[-1] == ("ecr", "eu-west-1", role)
    with pytest.raises(InvalidInput, match="not an ECR registry host"):
        provider.get("ghcr.io")


class FakeGoogleCredentials:
    """Stands in for google.auth credentials: counts refreshes, slow like a real token call."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.expiry: dt.datetime | None = None
        self.refreshes = 0

    def refresh(self, request: object) -> None:
        time.sleep(0.05)
        self.refreshes += 1
        self.token = f"ya29.token-{self.refreshes}"
        self.expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)


def test_gar_concurrent_copies_fetch_one_token() -> None:
    creds = FakeGoogleCredentials()
    provider = GarCredentialProvider(load=lambda: creds, request_factory=object)
    seen: list[str] = []

    def use() -> None:
        credential = provider.get("europe-docker.pkg.dev")
        assert credential is not None and credential.username == "oauth2accesstoken"
        seen.append(credential.password.get_secret_value())

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert creds.refreshes == 1 and set(seen) == {"ya29.token-1"}
    provider.invalidate("europe-docker.pkg.dev")
    refreshed = provider.get("europe-docker.pkg.dev")
    assert refreshed is not None and refreshed.password.get_secret_value() == "ya29.token-2"


def test_docker_config_auths_and_hub_keys(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    encoded = base64.b64encode(b"carol:hunter2").decode()
    config.write_text(
        json.dumps(
            {
                "auths": {
                    "https://index.docker.io/v1/": {"auth": encoded},
                    "registry.example.com": {"username": "dave", "password": "pw"},
                }
            }
        )
    )
    provider = DockerConfigCredentialProvider(config)
    hub = provider.get("docker.io")
    assert hub is not None and hub.username == "carol"
    assert hub.password.get_secret_value() == "hunter2"
    other = provider.get("registry.example.com")
    assert other is not None and other.username == "dave"
    assert provider.get("ghcr.io") is None
    assert DockerConfigCredentialProvider(tmp_path / "missing.json").get("ghcr.io") is None


def test_user_pass_parsing_never_echoes_the_secret() -> None:
    credential = parse_user_pass("alice:pa:ss")
    assert credential.username == "alice" and credential.password.get_secret_value() == "pa:ss"
    with pytest.raises(InvalidInput) as info:
        parse_user_pass("justapassword")
    assert "justapassword" not in str(info.value)


def test_credentials_are_redacted_everywhere() -> None:
    credential = Credential(username="alice", password=Redacted("S3NTINEL"))
    for text in (repr(credential), str(credential), credential.model_dump_json(), f"{credential}"):
        assert "S3NTINEL" not in text


def test_chain_takes_the_first_answer_and_invalidates_all() -> None:
    class Counting(StaticCredentialProvider):
        invalidated = 0

        def invalidate(self, registry: str) -> None:
            Counting.invalidated += 1

    alice = Credential(username="alice", password=Redacted("a"))
    chain = ChainCredentialProvider([AnonymousProvider(), Counting({"h.io": alice}), Counting({})])
    assert chain.get("h.io") == alice and chain.get("x.io") is None
    chain.invalidate("h.io")
    assert Counting.invalidated == 2


class FailingGoogleCredentials:
    """Google credentials whose token endpoint fails the way google-auth reports it."""

    def __init__(self, error: Exception) -> None:
        self.token: str | None = None
        self.expiry: dt.datetime | None = None
        self.error = error

    def refresh(self, request: object) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (TransportError("connection refused"), Unavailable),
        (RefreshError("503 from the token endpoint", retryable=True), Unavailable),
        (RefreshError("invalid_grant: account deleted"), Unauthorized),
    ],
    ids=["unreachable", "5xx", "refused"],
)
def test_gar_token_endpoint_failures_are_retryable_refusals_are_not(
    error: Exception, expected: type[Exception]
) -> None:
    provider = GarCredentialProvider(
        load=lambda: FailingGoogleCredentials(error), request_factory=object
    )
    with pytest.raises(expected) as info:
        provider.get("europe-docker.pkg.dev")
    assert info.type is expected  # Unavailable is retried (exit 75); Unauthorized exits 4
