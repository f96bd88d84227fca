"""Registry clients per host, with what they need: the credentials the registries config
names (adapters.registry_credentials), an HTTP transport with its TLS, concurrency and retry
settings, and the control-plane readers (repository admins, scanners). Every runtime's factory
uses it; it is the engine's `ClientSource`.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from freightliner.adapters.credential_refs import secret_ttl
from freightliner.adapters.gcp.container_analysis import DEFAULT_ENDPOINT, ContainerAnalysisScanner
from freightliner.adapters.gcp.gar_catalog import API_ENDPOINT as GAR_API_ENDPOINT
from freightliner.adapters.gcp.gar_catalog import ArtifactRegistryCatalog
from freightliner.adapters.local.noop_repositories import NoopRepositoryAdmin
from freightliner.adapters.registry_credentials import RegistryCredentials
from freightliner.domain.errors import Unsupported
from freightliner.domain.reference import ecr_host, gar_host
from freightliner.domain.registries import AuthKind, Registries, TlsMode
from freightliner.domain.retry import RetryPolicy
from freightliner.environment import ENV_REGISTRIES
from freightliner.ports.credentials import Credential
from freightliner.ports.repositories import RepositoryAdmin
from freightliner.ports.scans import ImageScanner
from freightliner.registry.auth import RegistryAuth
from freightliner.registry.client import RegistryClient
from freightliner.registry.observe import RequestObserver
from freightliner.registry.pacing import HostPacer
from freightliner.registry.tls import tls_context
from freightliner.registry.transport import RegistryTransport

if TYPE_CHECKING:
    from freightliner.adapters.aws.ecr_scans import EcrImageScanner
    from freightliner.adapters.aws.sessions import AwsClients


class RegistryClients:
    """Registry clients, credential providers, repository admins and scanners, one per host,
    built on first use and cached; the engine's `ClientSource`.

    The boto3 clients (`aws`, or what `aws_factory` builds) are made when an ECR host, an
    ECR scan or a secret reference first needs them: a command between other registries
    never loads botocore."""

    def __init__(
        self,
        registries: Registries | None = None,
        credentials: dict[str, Credential] | None = None,
        retry: RetryPolicy | None = None,
        aws: AwsClients | None = None,
        scan_endpoint: str = DEFAULT_ENDPOINT,
        *,
        aws_factory: Callable[[], AwsClients] | None = None,
        auth_file: Path | None = None,
        observer: RequestObserver | None = None,
        fleet_size: int = 1,
        max_pace_wait: float = math.inf,
    ) -> None:
        self.registries = registries or Registries()
        self._observer = observer
        self._retry = retry or RetryPolicy()
        # Processes sharing each host's budget, and how long a request may wait for it
        # (registry.pacing).
        self._fleet_size = fleet_size
        self._max_pace_wait = max_pace_wait
        self._scan_endpoint = scan_endpoint
        self._lock = threading.Lock()
        self._clients: dict[str, RegistryClient] = {}
        self._admins: dict[str, RepositoryAdmin] = {}
        self._aws_factory: Callable[[], AwsClients] = (
            (lambda: aws) if aws is not None else aws_factory or _default_aws
        )
        self._scanners: dict[str, ImageScanner] = {}
        self.credentials = RegistryCredentials(
            self.registries, lambda: self.aws, credentials, secret_ttl(), auth_file
        )

    @classmethod
    def from_environment(
        cls,
        registries_file: Path | None = None,
        credentials: dict[str, Credential] | None = None,
        tls: Mapping[str, TlsMode] | None = None,
        auth_file: Path | None = None,
    ) -> RegistryClients:
        """The CLI's clients: the registries config (with the command line's TLS modes over
        it), the auth file it names, and the AWS credentials (the default chain, or
        FREIGHTLINER_AWS_ROLE_ARN / FREIGHTLINER_AWS_CREDENTIALS) the environment names."""
        path = registries_file or (
            Path(os.environ[ENV_REGISTRIES]) if os.environ.get(ENV_REGISTRIES) else None
        )
        registries = Registries.load(path).with_tls(tls or {})
        return cls(registries, credentials, aws_factory=_environment_aws, auth_file=auth_file)

    @cached_property
    def aws(self) -> AwsClients:
        """The boto3 clients, built on first use (under the caller's lock where there is one)."""
        return self._aws_factory()

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
            if host in self.credentials.ecr_targets or ecr_host(host):
                found = self._ecr_scanner
            elif gar_host(host):
                found = ContainerAnalysisScanner(
                    self._api_http, self.credentials.provider(host), self._scan_endpoint
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
            from freightliner.adapters.aws.ecr_repositories import (  # noqa: PLC0415
                EcrRepositoryAdmin,
            )

            return EcrRepositoryAdmin(self.aws, self.credentials.ecr_targets)
        location = gar_host(host)
        api = self.registries.get(host).api_endpoint
        if location is not None and (kind is AuthKind.GAR or api):
            return ArtifactRegistryCatalog(
                host,
                location.location,
                self.credentials.provider(host),
                self._api_http,
                api or GAR_API_ENDPOINT,
            )
        return NoopRepositoryAdmin()

    def _build_client(self, host: str) -> RegistryClient:
        config = self.registries.get(host)
        tls = self.registries.tls(host)
        verify = tls is not TlsMode.INSECURE
        token_client = httpx.Client(verify=tls_context(verify), timeout=30.0, follow_redirects=True)
        auth = RegistryAuth(host, self.credentials.provider(host), token_client)
        transport = RegistryTransport(
            host,
            self.registries.endpoint(host),
            auth,
            verify_tls=verify,
            max_connections=config.max_concurrency,
            limits=config.limits,
            retry=self._retry,
            observer=self._observer,
            pacer=HostPacer(
                host,
                self.registries.pacing(host),
                self._fleet_size,
                max_wait=self._max_pace_wait,
            ),
        )
        return RegistryClient(host, transport, config.chunk_size)

    @cached_property
    def _ecr_scanner(self) -> EcrImageScanner:
        from freightliner.adapters.aws.ecr_scans import EcrImageScanner  # noqa: PLC0415

        return EcrImageScanner(self.aws, self.credentials.ecr_targets)


def _default_aws() -> AwsClients:
    """The default credential chain's clients."""
    from freightliner.adapters.aws.sessions import AwsClients  # noqa: PLC0415

    return AwsClients()


def _environment_aws() -> AwsClients:
    """The AWS credentials the environment names (the default chain, or
    FREIGHTLINER_AWS_ROLE_ARN / FREIGHTLINER_AWS_CREDENTIALS)."""
    from freightliner.bootstrap.aws_session import aws_clients  # noqa: PLC0415
    from freightliner.settings import Settings  # noqa: PLC0415

    return aws_clients(Settings.from_env())
