"""Credential references against real registries: a rotated `aws-sm://` secret is picked up
after one 401 with nothing restarted, `env://` and `file://` work, and a 401 in the middle of
a paginated listing re-reads the credential and continues from the same page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from freightliner.adapters.credential_refs import ReferenceCredentialProvider, ReferenceResolver
from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.domain.reference import Reference
from freightliner.domain.secrets import SecretRef
from freightliner.engine.copy import Copier
from freightliner.engine.models import CopyOptions
from freightliner.harness.images import Pusher
from freightliner.harness.registry import LocalRegistry
from freightliner.registry.auth import RegistryAuth
from freightliner.registry.client import RegistryClient
from freightliner.registry.transport import RegistryTransport
from tests.conftest import AuthRegistry
from tests.support.faulty_proxy import FaultyProxy, start_proxy


@pytest.fixture
def seeded(registry: LocalRegistry) -> str:
    with Pusher(registry.url) as pusher:
        pusher.image("team/app", "v1", [b"layer-one", b"layer-two"])
    return f"{registry.host}/team/app:v1"


@pytest.fixture
def proxied(basic_registry: AuthRegistry) -> Iterator[tuple[FaultyProxy, str]]:
    proxy, host, stop = start_proxy(basic_registry.registry.url)
    try:
        yield proxy, host
    finally:
        stop()


def _config(tmp_path: Path, host: str, password_field: str) -> Path:
    path = tmp_path / "registries.yaml"
    path.write_text(
        "registries:\n"
        f"  - host: {host}\n"
        f"    auth: {{kind: basic, username: alice, {password_field}}}\n"
    )
    return path


def test_a_rotated_secret_is_picked_up_after_one_401(
    seeded: str,
    basic_registry: AuthRegistry,
    proxied: tuple[FaultyProxy, str],
    moto_endpoint: str,
    tmp_path: Path,
) -> None:
    proxy, host = proxied
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.create_secret(
        Name="registry/alice",
        SecretString=json.dumps({"username": "alice", "password": basic_registry.password}),
    )
    config = _config(tmp_path, host, "password_ref: 'aws-sm://registry/alice#password'")
    container = RegistryClients.from_environment(config)
    options = CopyOptions(jobs=1)
    try:
        with Copier(container, options) as copier:
            assert copier.copy(Reference.parse(seeded), Reference.parse(f"{host}/a/app:v1"))

        rotated = basic_registry.password + "-rotated"
        sm.put_secret_value(
            SecretId="registry/alice",
            SecretString=json.dumps({"username": "alice", "password": rotated}),
        )
        basic_registry.registry.rotate_password(rotated)
        seen = len(proxy.requests)
        with Copier(container, options) as copier:
            report = copier.copy(Reference.parse(seeded), Reference.parse(f"{host}/b/app:v1"))
        assert report.status == "copied"
    finally:
        container.close()
    after = proxy.requests[seen:]
    assert [status for _, _, status in after].count(401) == 1
    assert after[0][2] == 401 and after[1][:2] == after[0][:2]  # the refused request, again
    assert container.credentials.secret_references.reads == 2  # once at start, once after the 401
    assert httpx.get(
        f"{basic_registry.registry.url}/v2/b/app/manifests/v1",
        auth=("alice", rotated),
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    ).is_success


@pytest.mark.parametrize("kind", ["env", "file"])
def test_env_and_file_references(
    kind: str,
    seeded: str,
    basic_registry: AuthRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = basic_registry.registry.host
    if kind == "env":
        monkeypatch.setenv("REGISTRY_PASSWORD", basic_registry.password)
        reference = "env://REGISTRY_PASSWORD"
    else:
        secret = tmp_path / "password"
        secret.write_text(basic_registry.password + "\n")  # as `echo pass > file` leaves it
        reference = f"file://{secret}"
    container = RegistryClients.from_environment(
        _config(tmp_path, host, f"password_ref: '{reference}'")
    )
    try:
        with Copier(container, CopyOptions()) as copier:
            report = copier.copy(Reference.parse(seeded), Reference.parse(f"{host}/c/app:v1"))
    finally:
        container.close()
    assert report.status == "copied"


def test_a_401_mid_listing_re_reads_the_credential_and_continues_from_that_page(
    basic_registry: AuthRegistry,
    proxied: tuple[FaultyProxy, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy, host = proxied
    repositories = [f"team/app{i}" for i in range(7)]
    with Pusher(basic_registry.registry.url, auth=basic_registry.creds) as pusher:
        for repository in repositories:
            pusher.image(repository, "v1", [b"same-layer"])
    monkeypatch.setenv("REGISTRY_PASSWORD", basic_registry.password)
    resolver = ReferenceResolver(store_for=lambda ref: pytest.fail("no store needed"))
    provider = ReferenceCredentialProvider(
        "alice", SecretRef.parse("env://REGISTRY_PASSWORD"), resolver
    )
    auth = RegistryAuth(host, provider, httpx.Client())
    client = RegistryClient(host, RegistryTransport(host, f"http://{host}", auth), 2**27)
    proxy.fail(
        lambda method, path: "/_catalog" in path and "last=team%2Fapp3" in path,
        401,
        times=1,
        headers={"WWW-Authenticate": 'Basic realm="freightliner-test"'},
    )
    try:
        listed = list(client.catalog(page_size=2))
    finally:
        client.transport.close()
    assert listed == repositories  # every repository once: no page was listed twice
    pages = [(path, status) for _, path, status in proxy.requests if "/_catalog" in path]
    # page 1: the registry's challenge, then the answer; page 3 refused mid-listing and asked
    # for again (not page 1); then page 4
    assert [status for _, status in pages] == [401, 200, 200, 401, 200, 200]
    assert pages[1][0] == pages[0][0] and "last=" not in pages[0][0]
    assert "last=team%2Fapp3" in pages[3][0] and pages[4][0] == pages[3][0]
    assert resolver.reads == 2
