"""Registry clients and what they authenticate with, per host: the one place that turns the
registries config into credential providers (anonymous, basic, a secret reference, ECR, Google,
the Docker config), HTTP transports and control-plane readers. Every runtime's factory uses it.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from pathlib import Path

import httpx

from freightliner.adapters.aws.ecr_auth import EcrCredentialProvider, EcrTarget, ecr_target
from freightliner.adapters.aws.ecr_repositories import EcrRepositoryAdmin
from freightliner.adapters.aws.ecr_scans import EcrImageScanner
from freightliner.adapters.aws.sessions import AwsClients
from freightliner.adapters.credential_refs import ReferenceCredentialProvider, ReferenceResolver
from freightliner.adapters.gcp import google_credentials
from freightliner.adapters.gcp.container_analysis import DEFAULT_ENDPOINT, ContainerAnalysisScanner
from freightliner.adapters.gcp.gar_auth import GarCredentialProvider
from freightliner.adapters.gcp.gar_catalog import API_ENDPOINT as GAR_API_ENDPOINT
from freightliner.adapters.gcp.gar_catalog import ArtifactRegistryCatalog
from freightliner.adapters.local.noop_repositories import NoopRepositoryAdmin
from freightliner.adapters.local.static_creds import (
    AnonymousProvider,
    ChainCredentialProvider,
    DockerConfigCredentialProvider,
    StaticCredentialProvider,
)
from freightliner.adapters.secret_stores import SecretStores
from freightliner.bootstrap.aws_session import aws_clients, secret_ttl
from freightliner.domain.errors import InvalidInput, Unsupported
from freightliner.domain.reference import ecr_host, gar_host
from freightliner.domain.registries import AuthConfig, AuthKind, Registries, TlsMode
from freightliner.domain.secrets import RefScheme, SecretRef
from freightliner.ports.credentials import Credential, CredentialProvider
from freightliner.ports.repositories import RepositoryAdmin
from freightliner.ports.scans import ImageScanner
from freightliner.registry.auth import RegistryAuth
from freightliner.registry.client import RegistryClient
from freightliner.registry.retry import RetryPolicy
from freightliner.registry.transport import RegistryTransport
from freightliner.settings import ENV_REGISTRIES, Settings


class RegistryClients:
    """Registry clients, credential providers, repository admins and scanners, one per host,
    built on first use and cached; the engine's `ClientSource`."""

    def __init__(
        self,
        registries: Registries | None = None,
        credentials: dict[str, Credential] | None = None,
        retry: RetryPolicy | None = None,
        aws: AwsClients | None = None,
        scan_endpoint: str = DEFAULT_ENDPOINT,
    ) -> None:
        self._registries = registries
        self._overrides = dict(credentials or {})
        self._retry = retry or RetryPolicy()
        self._scan_endpoint = scan_endpoint
        self._lock = threading.Lock()
        self._clients: dict[str, RegistryClient] = {}
        self._admins: dict[str, RepositoryAdmin] = {}
        self.aws = aws or AwsClients()
        self._scanners: dict[str, ImageScanner] = {}
        self._providers: dict[str, CredentialProvider] = {}
        self._providers_lock = threading.Lock()

    @classmethod
    def from_environment(
        cls, registries_file: Path | None = None, credentials: dict[str, Credential] | None = None
    ) -> RegistryClients:
        """The CLI's clients: the registries config and the AWS credentials (the default
        chain, or FREIGHTLINER_AWS_ROLE_ARN / FREIGHTLINER_AWS_CREDENTIALS) the environment
        names."""
        path = registries_file or (
            Path(os.environ[ENV_REGISTRIES]) if os.environ.get(ENV_REGISTRIES) else None
        )
        aws = aws_clients(Settings.from_env())
        return cls(Registries.load(path), credentials, aws=aws)

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
                admin = self._build_admin(host)
                self._admins[host] = admin
            return admin

    @cached_property
    def _api_http(self) -> httpx.Client:
        """HTTP for control-plane REST APIs (Artifact Registry, Container Analysis), shared by
        every host."""
        return httpx.Client(timeout=30.0)

    def scanner(self, host: str) -> ImageScanner:
        """ECR image scans for ECR hosts, Container Analysis for Artifact Registry hosts."""
        with self._lock:
            found = self._scanners.get(host)
            if found is not None:
                return found
            if host in self._ecr_targets or ecr_host(host):
                found = self._ecr_scanner
            elif gar_host(host):
                found = ContainerAnalysisScanner(
                    self._api_http, self.credential_provider(host), self._scan_endpoint
                )
            else:
                raise Unsupported(
                    f"the scan gate reads scans from ECR and Artifact Registry; {host} is neither"
                )
            self._scanners[host] = found
            return found

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.transport.close()
                client.transport.auth.close()
            self._clients.clear()
            self._scanners.clear()
            if "_api_http" in self.__dict__:
                self.__dict__.pop("_api_http").close()

    # -- building -----------------------------------------------------------------------

    def _build_admin(self, host: str) -> RepositoryAdmin:
        """ECR's control plane; Artifact Registry's REST API where the host is GAR (its
        auth is Google's, or an `api_endpoint` is configured); else the registry API."""
        kind = self.registries.auth_kind(host)
        if kind is AuthKind.ECR:
            return EcrRepositoryAdmin(self.aws, self._ecr_targets)
        location = gar_host(host)
        api = self.registries.get(host).api_endpoint
        if location is not None and (kind is AuthKind.GAR or api):
            return ArtifactRegistryCatalog(
                host,
                location.location,
                self.credential_provider(host),
                self._api_http,
                api or GAR_API_ENDPOINT,
            )
        return NoopRepositoryAdmin()

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
        """One provider per host, shared by its registry client and its control-plane
        readers: credentials load once, and a 401 anywhere refreshes them for all."""
        with self._providers_lock:  # not self._lock: its holders call this
            found = self._providers.get(host)
            if found is None:
                found = self._base_provider(host)
                if host in self._overrides:
                    found = ChainCredentialProvider(
                        [StaticCredentialProvider({host: self._overrides[host]}), found]
                    )
                self._providers[host] = found
            return found

    def _base_provider(self, host: str) -> CredentialProvider:
        kind = self.registries.auth_kind(host)
        auth = self.registries.get(host).auth
        if kind is AuthKind.ANONYMOUS:
            return AnonymousProvider()
        if kind is AuthKind.BASIC:
            return self._basic_provider(host, auth)
        if kind is AuthKind.ECR:
            return self._ecr_provider
        if kind is AuthKind.GAR:
            return self._gar_provider(auth)
        return ChainCredentialProvider([DockerConfigCredentialProvider(), AnonymousProvider()])

    def _basic_provider(self, host: str, auth: AuthConfig) -> CredentialProvider:
        if auth.username is None:
            raise InvalidInput(f"registries config: {host} uses basic auth without username")
        reference = auth.password_ref or (
            SecretRef(scheme=RefScheme.ENV, name=auth.password_env) if auth.password_env else None
        )
        if reference is not None:
            return ReferenceCredentialProvider(auth.username, reference, self.secret_references)
        if auth.password is None:
            raise InvalidInput(f"registries config: {host} uses basic auth without password")
        return StaticCredentialProvider(
            {host: Credential(username=auth.username, password=auth.password)}
        )

    def _gar_provider(self, auth: AuthConfig) -> GarCredentialProvider:
        reference, key_file = auth.credentials_ref, auth.service_account_key_file
        if reference is not None:
            resolver = self.secret_references
            return GarCredentialProvider(
                load=lambda: google_credentials.from_json(
                    resolver.resolve(reference).get_secret_value(), str(reference)
                ),
                forget=lambda: resolver.invalidate(reference),
            )
        if key_file is not None:
            return GarCredentialProvider(load=lambda: google_credentials.from_file(key_file))
        return GarCredentialProvider()

    @cached_property
    def secret_stores(self) -> SecretStores:
        return SecretStores(self.aws)

    @cached_property
    def secret_references(self) -> ReferenceResolver:
        return ReferenceResolver(self.secret_stores.for_reference, ttl=secret_ttl())

    @cached_property
    def _ecr_targets(self) -> dict[str, EcrTarget]:
        """Hosts mapped onto an ECR registry (a local one, say) or called through a role."""
        targets: dict[str, EcrTarget] = {}
        for host in self.registries.hosts():
            auth = self.registries.get(host).auth
            if auth.registry_id and auth.region:
                targets[host] = EcrTarget(auth.registry_id, auth.region, auth.role_arn)
            elif auth.role_arn:
                default = ecr_target(host, {})
                targets[host] = EcrTarget(default.registry_id, default.region, auth.role_arn)
        return targets

    @cached_property
    def _ecr_provider(self) -> EcrCredentialProvider:
        return EcrCredentialProvider(self.aws, self._ecr_targets)

    @cached_property
    def _ecr_scanner(self) -> EcrImageScanner:
        return EcrImageScanner(self.aws, self._ecr_targets)
