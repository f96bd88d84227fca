"""Credential references (parsing, TTL cache, JSON keys, invalidation), the redacting secret
type, AWS error mapping (botocore's Stubber), and ECR listings that outlive their
credentials. No network."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from freightliner.adapters.aws.ecr_auth import EcrTarget
from freightliner.adapters.aws.ecr_repositories import EcrRepositoryAdmin
from freightliner.adapters.aws.secrets_manager import AwsSecretStore
from freightliner.adapters.credential_refs import ReferenceCredentialProvider, ReferenceResolver
from freightliner.domain.errors import Forbidden, InvalidInput, NotFound
from freightliner.domain.registries import Registries, RegistriesFile
from freightliner.domain.secrets import Redacted, RefScheme, SecretRef, SecretText, SecretValue
from freightliner.ports.secrets import SecretStore

SENTINEL = "S3NTINEL-unit"


@pytest.mark.parametrize(
    ("text", "scheme", "name", "project", "version", "key"),
    [
        ("aws-sm://registry/hub", RefScheme.AWS_SM, "registry/hub", None, None, None),
        ("aws-sm://hub#password", RefScheme.AWS_SM, "hub", None, None, "password"),
        (
            "gcp-sm://projects/p-1/secrets/hub/versions/3#token",
            RefScheme.GCP_SM,
            "hub",
            "p-1",
            "3",
            "token",
        ),
        ("gcp-sm://projects/p/secrets/hub", RefScheme.GCP_SM, "hub", "p", None, None),
        ("env://HUB_TOKEN", RefScheme.ENV, "HUB_TOKEN", None, None, None),
        ("file:///run/secrets/hub#1", RefScheme.FILE, "/run/secrets/hub#1", None, None, None),
    ],
)
def test_references_parse_and_print_back(
    text: str,
    scheme: RefScheme,
    name: str,
    project: str | None,
    version: str | None,
    key: str | None,
) -> None:
    ref = SecretRef.parse(text)
    assert (ref.scheme, ref.name, ref.project, ref.version, ref.json_key) == (
        scheme,
        name,
        project,
        version,
        key,
    )
    assert str(ref) == text


@pytest.mark.parametrize(
    "text",
    ["vault://x", "aws-sm://", "aws-sm://a b", "gcp-sm://secrets/x", "env://1X", "aws-sm://x#"],
)
def test_bad_references_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="credential reference"):
        SecretRef.parse(text)


def test_arn_references_name_their_region() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hub-AbC123"
    assert SecretRef.parse(f"aws-sm://{arn}").aws_region == "eu-west-1"
    assert SecretRef.parse("aws-sm://hub").aws_region is None


def test_registries_config_takes_references_and_refuses_two_sources() -> None:
    parsed = RegistriesFile.model_validate(
        {
            "registries": [
                {
                    "host": "ghcr.io",
                    "auth": {"kind": "basic", "username": "ci", "password_ref": "aws-sm://gh#t"},
                },
                {
                    "host": "europe-docker.pkg.dev",
                    "auth": {"kind": "gar", "credentials_ref": "gcp-sm://projects/p/secrets/k"},
                },
            ]
        }
    )
    registries = Registries(parsed.registries)
    assert str(registries.get("ghcr.io").auth.password_ref) == "aws-sm://gh#t"
    assert parsed.model_dump(mode="json")["registries"][1]["auth"]["credentials_ref"] == (
        "gcp-sm://projects/p/secrets/k"
    )
    with pytest.raises(ValueError, match="give one of password, password_ref"):
        RegistriesFile.model_validate(
            {
                "registries": [
                    {
                        "host": "ghcr.io",
                        "auth": {"password": "x", "password_ref": "env://X"},
                    }
                ]
            }
        )
    with pytest.raises(ValueError, match="credential reference"):
        RegistriesFile.model_validate(
            {"registries": [{"host": "ghcr.io", "auth": {"password_ref": "s3://x"}}]}
        )


def test_redacted_values_never_print() -> None:
    secret = Redacted(SENTINEL)
    value = SecretValue(name="n", version="1", value=secret)
    for text in (repr(secret), str(secret), f"{secret}", repr(value), value.model_dump_json()):
        assert SENTINEL not in text
    assert "[REDACTED]" in value.model_dump_json() and "[REDACTED]" in repr(secret)
    assert secret.get_secret_value() == SENTINEL


class MemoryStore:
    """A SecretStore in a dict; counts reads and can be slow, to see single flight."""

    kind = "memory"
    location = "here"

    def __init__(self, values: dict[str, str], delay: float = 0.0) -> None:
        self.values = values
        self.delay = delay
        self.gets = 0

    def get(self, name: str, version: str | None = None, stage: str | None = None) -> SecretValue:
        self.gets += 1
        time.sleep(self.delay)
        if name not in self.values:
            raise NotFound(f"secret {name!r} not found")
        return SecretValue(name=name, version="1", value=Redacted(self.values[name]))


def _resolver(store: MemoryStore, clock: list[float]) -> ReferenceResolver:
    def store_for(ref: SecretRef) -> SecretStore:
        return store  # type: ignore[return-value]

    return ReferenceResolver(store_for, ttl=60, clock=lambda: clock[0])


def test_references_are_cached_for_the_ttl_and_re_read_after_invalidation() -> None:
    store = MemoryStore({"hub": '{"password": "one"}'})
    clock = [0.0]
    resolver = _resolver(store, clock)
    ref = SecretRef.parse("aws-sm://hub#password")
    provider = ReferenceCredentialProvider("ci", ref, resolver)
    first = provider.get("ghcr.io")
    assert first is not None and first.password.get_secret_value() == "one"
    store.values["hub"] = '{"password": "two"}'
    clock[0] = 59.0
    assert resolver.resolve(ref).get_secret_value() == "one" and store.gets == 1
    provider.invalidate("ghcr.io")  # what a 401 does
    assert resolver.resolve(ref).get_secret_value() == "two" and store.gets == 2
    store.values["hub"] = '{"password": "three"}'
    clock[0] = 200.0  # past the TTL
    assert resolver.resolve(ref).get_secret_value() == "three" and store.gets == 3


def test_concurrent_resolutions_share_one_read() -> None:
    store = MemoryStore({"hub": "pw"}, delay=0.05)
    resolver = _resolver(store, [0.0])
    ref = SecretRef.parse("aws-sm://hub")
    threads = [threading.Thread(target=resolver.resolve, args=(ref,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.gets == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (SENTINEL, "not JSON"),
        (f'["{SENTINEL}"]', "no key 'password'"),
        (f'{{"user": "{SENTINEL}"}}', "no key 'password'"),
        ('{"password": 42}', "not a string"),
    ],
)
def test_json_key_errors_never_quote_the_value(value: str, message: str) -> None:
    resolver = _resolver(MemoryStore({"hub": value}), [0.0])
    with pytest.raises(InvalidInput, match=message) as info:
        resolver.resolve(SecretRef.parse("aws-sm://hub#password"))
    assert SENTINEL not in str(info.value) and "aws-sm://hub#password" in str(info.value)


def test_oversized_and_empty_values_are_refused() -> None:
    with pytest.raises(InvalidInput, match="65537 bytes"):
        SecretText.of("n", "x" * 65537)
    with pytest.raises(InvalidInput, match="empty"):
        SecretText.of("n", "")
    assert SecretText.of("n", "x" * 65536).value.get_secret_value() == "x" * 65536


def _stubbed_store() -> tuple[AwsSecretStore, Stubber]:
    client = boto3.client(
        "secretsmanager",
        region_name="eu-west-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    )
    return AwsSecretStore(client, "eu-west-1", lambda: None), Stubber(client)


def test_aws_access_denied_names_the_secret_and_the_permission() -> None:
    store, stubber = _stubbed_store()
    stubber.add_client_error(
        "get_secret_value",
        service_error_code="AccessDeniedException",
        service_message=f"User is not authorized (value {SENTINEL})",
        http_status_code=400,
    )
    stubber.add_client_error(
        "put_secret_value", service_error_code="AccessDeniedException", http_status_code=400
    )
    with stubber, pytest.raises(Forbidden) as info:
        store.get("hub")
    message = str(info.value)
    assert "secret 'hub'" in message and "secretsmanager:GetSecretValue" in message
    assert "eu-west-1" in message and SENTINEL not in message
    with stubber, pytest.raises(Forbidden, match="secretsmanager:PutSecretValue"):
        store.put("hub", SecretText.of("hub", SENTINEL))


def _expired() -> ClientError:
    return ClientError(
        {"Error": {"Code": "ExpiredTokenException", "Message": "expired"}}, "DescribeRepositories"
    )


class PagedEcr:
    """describe_repositories in pages of two; the second page fails once as expired."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.tokens: list[str | None] = []
        self.failed = False

    def describe_repositories(self, registryId: str, nextToken: str | None = None) -> Any:  # noqa: N803
        self.tokens.append(nextToken)
        start = int(nextToken or 0)
        if start == 2 and not self.failed:
            self.failed = True
            raise _expired()
        page: dict[str, Any] = {
            "repositories": [{"repositoryName": n} for n in self.names[start : start + 2]]
        }
        if start + 2 < len(self.names):
            page["nextToken"] = str(start + 2)
        return page


class RenewingClients:
    def __init__(self, fake: PagedEcr) -> None:
        self.fake = fake
        self.renewals: list[tuple[str, str, str | None]] = []

    def client(self, service: str, region: str, role_arn: str | None = None) -> Any:
        return self.fake

    def renew(self, service: str, region: str, role_arn: str | None = None) -> None:
        self.renewals.append((service, region, role_arn))


def test_expired_credentials_mid_listing_renew_and_continue_from_the_same_page() -> None:
    names = [f"team/app{i}" for i in range(5)]
    fake = PagedEcr(names)
    clients = RenewingClients(fake)
    role = "arn:aws:iam::210987654321:role/mirror"
    host = "210987654321.dkr.ecr.eu-west-1.amazonaws.com"
    admin = EcrRepositoryAdmin(clients, {host: EcrTarget("210987654321", "eu-west-1", role)})
    listed = admin.list_repositories(host, "team")
    assert listed is not None and list(listed) == names
    assert fake.tokens == [None, "2", "2", "4"]  # page 2 again after renewal, not page 1
    assert clients.renewals == [("ecr", "eu-west-1", role)]
