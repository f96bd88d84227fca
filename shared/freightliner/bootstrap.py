"""The composition root: the only place that picks concrete adapters and builds clients.

Everything is built lazily on first use and cached while the process (or a warm Lambda) lives:
no boto3 client, config read or network happens at import time.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx

from freightliner.adapters.aws.ecr_auth import EcrCredentialProvider
from freightliner.adapters.aws.ecr_repositories import EcrRepositoryAdmin
from freightliner.adapters.gcp.gar_auth import GarCredentialProvider
from freightliner.adapters.local.noop_repositories import NoopRepositoryAdmin
from freightliner.adapters.local.static_creds import (
    AnonymousProvider,
    ChainCredentialProvider,
    DockerConfigCredentialProvider,
    EnvCredentialProvider,
    StaticCredentialProvider,
)
from freightliner.domain.errors import InvalidInput
from freightliner.domain.registries import AuthKind, Registries, TlsMode
from freightliner.ports.credentials import Credential, CredentialProvider
from freightliner.ports.repositories import RepositoryAdmin
from freightliner.registry.auth import RegistryAuth
from freightliner.registry.client import RegistryClient
from freightliner.registry.retry import RetryPolicy
from freightliner.registry.transport import RegistryTransport

ENV_REGISTRIES_FILE = "FREIGHTLINER_REGISTRIES"


class Container:
    """Registry clients, credential providers and repository admins, one per host, cached."""

    def __init__(
        self,
        registries: Registries | None = None,
        credentials: dict[str, Credential] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._registries = registries
        self._overrides = dict(credentials or {})
        self._retry = retry or RetryPolicy()
        self._lock = threading.Lock()
        self._clients: dict[str, RegistryClient] = {}
        self._admins: dict[str, RepositoryAdmin] = {}
        self._boto: dict[tuple[str, str], Any] = {}

    @classmethod
    def from_environment(
        cls, registries_file: Path | None = None, credentials: dict[str, Credential] | None = None
    ) -> Container:
        path = registries_file or (
            Path(os.environ[ENV_REGISTRIES_FILE]) if os.environ.get(ENV_REGISTRIES_FILE) else None
        )
        return cls(Registries.load(path), credentials)

    @property
    def registries(self) -> Registries:
        if self._registries is None:
            self._registries = Registries()
        return self._registries

    # -- ClientSource -------------------------------------------------------------------

    def client(self, host: str) -> RegistryClient:
        with self._lock:
            found = self._clients.get(host)
            if found is None:
                found = self._clients[host] = self._build_client(host)
            return found

    def repository_admin(self, host: str) -> RepositoryAdmin:
        with self._lock:
            admin = self._admins.get(host)
            if admin is None:
                if self.registries.auth_kind(host) is AuthKind.ECR:
                    admin = EcrRepositoryAdmin(self._ecr_client, self._ecr_targets())
                else:
                    admin = NoopRepositoryAdmin()
                self._admins[host] = admin
            return admin

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.transport.close()
                client.transport.auth.close()
            self._clients.clear()

    # -- building -----------------------------------------------------------------------

    def _build_client(self, host: str) -> RegistryClient:
        config = self.registries.get(host)
        tls = self.registries.tls(host)
        verify = tls is not TlsMode.INSECURE
        token_client = httpx.Client(verify=verify, timeout=30.0, follow_redirects=True)
        auth = RegistryAuth(host, self.credential_provider(host), token_client)
        transport = RegistryTransport(
            host,
            self.registries.endpoint(host),
            auth,
            verify_tls=verify,
            max_connections=config.max_concurrency,
            retry=self._retry,
        )
        return RegistryClient(host, transport, config.chunk_size)

    def credential_provider(self, host: str) -> CredentialProvider:
        base = self._base_provider(host)
        if host in self._overrides:
            return ChainCredentialProvider(
                [StaticCredentialProvider({host: self._overrides[host]}), base]
            )
        return base

    def _base_provider(self, host: str) -> CredentialProvider:
        kind = self.registries.auth_kind(host)
        auth = self.registries.get(host).auth
        if kind is AuthKind.ANONYMOUS:
            return AnonymousProvider()
        if kind is AuthKind.BASIC:
            if auth.username is None:
                raise InvalidInput(f"registries config: {host} uses basic auth without username")
            if auth.password_env:
                return EnvCredentialProvider({host: (auth.username, auth.password_env)})
            if auth.password is None:
                raise InvalidInput(f"registries config: {host} uses basic auth without password")
            return StaticCredentialProvider(
                {host: Credential(username=auth.username, password=auth.password)}
            )
        if kind is AuthKind.ECR:
            return self._ecr_provider
        if kind is AuthKind.GAR:
            return GarCredentialProvider(key_file=auth.service_account_key_file)
        return ChainCredentialProvider([DockerConfigCredentialProvider(), AnonymousProvider()])

    def _ecr_targets(self) -> dict[str, tuple[str, str]]:
        """Hosts that are not ECR-shaped but stand for an ECR registry (e.g. a local one)."""
        targets: dict[str, tuple[str, str]] = {}
        for host in self.registries.hosts():
            auth = self.registries.get(host).auth
            if auth.registry_id and auth.region:
                targets[host] = (auth.registry_id, auth.region)
        return targets

    @cached_property
    def _ecr_provider(self) -> EcrCredentialProvider:
        return EcrCredentialProvider(self._ecr_client, self._ecr_targets())

    def _ecr_client(self, region: str) -> Any:
        return self._boto_client("ecr", region)

    def _boto_client(self, service: str, region: str) -> Any:
        key = (service, region)
        client = self._boto.get(key)
        if client is None:
            import boto3  # noqa: PLC0415 - deferred: keeps imports and cold starts light

            client = self._boto[key] = boto3.client(service, region_name=region)  # type: ignore[call-overload]
        return client
