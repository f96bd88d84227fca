"""Which credentials each registry host gets, as the registries config says: anonymous, basic
(a password, an environment variable or a secret reference), ECR tokens (through a role where
one is named), Google credentials (a key file, a secret reference or the application default),
else the auth files (`--authfile`, podman's `auth.json`, the Docker config). Credentials given
on the command line are tried first for their host.

One provider per host, shared by its registry client and its control-plane readers:
credentials load once, and a 401 anywhere refreshes them for all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from freightliner.adapters.credential_refs import (
    DEFAULT_TTL,
    ReferenceCredentialProvider,
    ReferenceResolver,
)
from freightliner.adapters.gcp import google_credentials
from freightliner.adapters.gcp.gar_auth import GarCredentialProvider
from freightliner.adapters.local.static_creds import (
    AnonymousProvider,
    ChainCredentialProvider,
    DockerConfigCredentialProvider,
    StaticCredentialProvider,
)
from freightliner.domain.errors import InvalidInput
from freightliner.domain.registries import AuthConfig, AuthKind, Registries
from freightliner.domain.secrets import RefScheme, SecretRef
from freightliner.ports.credentials import Credential, CredentialProvider

if TYPE_CHECKING:
    from freightliner.adapters.aws.ecr_auth import EcrCredentialProvider, EcrTarget
    from freightliner.adapters.aws.sessions import AwsClients
    from freightliner.adapters.secret_stores import SecretStores


class RegistryCredentials:
    """Credential providers per host, built on first use and cached; thread-safe.

    `aws` builds the boto3 clients when an ECR host or a secret reference first needs them:
    credentials for other registries never load botocore (a tenth of a second of start-up)."""

    def __init__(
        self,
        registries: Registries,
        aws: Callable[[], AwsClients],
        overrides: dict[str, Credential] | None = None,
        secret_ttl: float = DEFAULT_TTL,
        auth_file: Path | None = None,
    ) -> None:
        self._registries = registries
        self._auth_file = auth_file
        self._aws = aws
        self._overrides = dict(overrides or {})
        self._secret_ttl = secret_ttl
        self._lock = threading.Lock()
        self._providers: dict[str, CredentialProvider] = {}

    def provider(self, host: str) -> CredentialProvider:
        with self._lock:
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
        kind = self._registries.auth_kind(host)
        auth = self._registries.get(host).auth
        if kind is AuthKind.ANONYMOUS:
            return AnonymousProvider()
        if kind is AuthKind.BASIC:
            return self._basic_provider(host, auth)
        if kind is AuthKind.ECR:
            return self.ecr_provider
        if kind is AuthKind.GAR:
            return self._gar_provider(auth)
        return ChainCredentialProvider(
            [DockerConfigCredentialProvider(self._auth_file), AnonymousProvider()]
        )

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
        from freightliner.adapters.secret_stores import SecretStores  # noqa: PLC0415

        return SecretStores(self._aws())

    @cached_property
    def secret_references(self) -> ReferenceResolver:
        """Resolves the registries config's secret references, each cached for the TTL."""
        return ReferenceResolver(self.secret_stores.for_reference, ttl=self._secret_ttl)

    @cached_property
    def ecr_targets(self) -> dict[str, EcrTarget]:
        """Hosts mapped onto an ECR registry (a local one, say) or called through a role."""
        from freightliner.adapters.aws.ecr_auth import EcrTarget, ecr_target  # noqa: PLC0415

        targets: dict[str, EcrTarget] = {}
        for host in self._registries.hosts():
            auth = self._registries.get(host).auth
            if auth.registry_id and auth.region:
                targets[host] = EcrTarget(auth.registry_id, auth.region, auth.role_arn)
            elif auth.role_arn:
                default = ecr_target(host, {})
                targets[host] = EcrTarget(default.registry_id, default.region, auth.role_arn)
        return targets

    @cached_property
    def ecr_provider(self) -> EcrCredentialProvider:
        """One ECR token cache for every ECR host."""
        from freightliner.adapters.aws.ecr_auth import EcrCredentialProvider  # noqa: PLC0415

        return EcrCredentialProvider(self._aws(), self.ecr_targets)
