"""Fixtures: real registries on loopback (open, htpasswd basic auth, token auth)."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from freightliner.harness.registry import LocalRegistry, TokenAuthSettings
from tests.support.token_server import ISSUER, SERVICE, TokenServer, start_token_server

pytest_plugins = ["tests.support.moto_server"]


@pytest.fixture(scope="session", autouse=True)
def _tools_installed() -> None:
    missing = [tool for tool in ("docker-registry", "skopeo", "htpasswd") if not shutil.which(tool)]
    if missing:
        pytest.exit(f"missing {', '.join(missing)}: run `make bootstrap`", returncode=4)


@pytest.fixture(autouse=True)
def _own_config_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checkpoint keys (and any other per-user config) go to a test folder, never to ~; so
    does the metadata cache, one per test (registries reuse loopback ports)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("FREIGHTLINER_METADATA_CACHE", raising=False)
    monkeypatch.delenv("FREIGHTLINER_CHECKPOINT_KEY", raising=False)


@pytest.fixture
def registry() -> Iterator[LocalRegistry]:
    with LocalRegistry() as reg:
        yield reg


@pytest.fixture
def dest_registry() -> Iterator[LocalRegistry]:
    with LocalRegistry() as reg:
        yield reg


@dataclass
class AuthRegistry:
    registry: LocalRegistry
    user: str
    password: str
    tokens: TokenServer | None = None

    @property
    def creds(self) -> tuple[str, str]:
        return (self.user, self.password)

    @property
    def user_pass(self) -> str:
        return f"{self.user}:{self.password}"


@pytest.fixture
def basic_registry() -> Iterator[AuthRegistry]:
    password = "basic-" + secrets.token_hex(8)
    with LocalRegistry(basic_auth=("alice", password)) as reg:
        yield AuthRegistry(reg, "alice", password)


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[AuthRegistry]:
    password = "token-" + secrets.token_hex(8)
    tokens = start_token_server(tmp_path, "bob", password)
    settings = TokenAuthSettings(tokens.realm, SERVICE, ISSUER, tokens.cert_path)
    try:
        with LocalRegistry(token_auth=settings) as reg:
            yield AuthRegistry(reg, "bob", password, tokens)
    finally:
        tokens.stop()
