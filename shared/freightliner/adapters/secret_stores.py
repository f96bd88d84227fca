"""Secret stores per (cloud, region or project), built on first use and cached: AWS Secrets
Manager through the shared boto3 clients, GCP Secret Manager over its REST API on httpx,
both loaded only when a reference first names them."""

from __future__ import annotations

import os
import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from freightliner.adapters.aws.sessions import AwsClients
from freightliner.domain.errors import InvalidInput
from freightliner.domain.secrets import RefScheme, SecretRef, StoreKind
from freightliner.environment import ENV_GCP_SECRETMANAGER_ENDPOINT
from freightliner.ports.secrets import SecretStore
from freightliner.settings import aws_region

if TYPE_CHECKING:
    from freightliner.adapters.gcp.google_rest import GoogleRest


class SecretStores:
    """One store per (kind, location); thread-safe."""

    def __init__(self, aws: AwsClients) -> None:
        self._aws = aws
        self._lock = threading.Lock()
        self._stores: dict[tuple[StoreKind, str], SecretStore] = {}

    def get(self, kind: StoreKind, location: str | None = None) -> SecretStore:
        """`location` is an AWS region (default: the process's) or a GCP project (required)."""
        if kind is StoreKind.GCP and not location:
            raise InvalidInput("GCP Secret Manager needs a project (--project or the reference)")
        key = (kind, location or aws_region())
        # Google's credentials load outside the lock (a metadata probe may take 2 s).
        google = self._google_credentials if kind is StoreKind.GCP else None
        with self._lock:
            found = self._stores.get(key)
            if found is None:
                found = self._stores[key] = (
                    self._aws_store(key[1]) if google is None else self._gcp_store(key[1], google)
                )
            return found

    def for_reference(self, ref: SecretRef) -> SecretStore:
        if ref.scheme is RefScheme.GCP_SM:
            return self.get(StoreKind.GCP, ref.project)
        return self.get(StoreKind.AWS, ref.aws_region)

    def _aws_store(self, region: str) -> SecretStore:
        from freightliner.adapters.aws.secrets_manager import AwsSecretStore  # noqa: PLC0415

        return AwsSecretStore(
            self._aws.client("secretsmanager", region),
            region,
            lambda: self._aws.client("sts", region),
        )

    @cached_property
    def _google_credentials(self) -> Any:
        """Application-default credentials, loaded once for every project's store."""
        from freightliner.adapters.gcp import google_credentials  # noqa: PLC0415

        return google_credentials.application_default()

    @cached_property
    def _google_rest(self) -> GoogleRest:
        """Secret Manager's REST API, one token for every project's store."""
        import httpx  # noqa: PLC0415

        from freightliner.adapters.gcp.gar_auth import GarCredentialProvider  # noqa: PLC0415
        from freightliner.adapters.gcp.google_rest import GoogleRest  # noqa: PLC0415

        provider = GarCredentialProvider(load=lambda: self._google_credentials)
        hint = "the caller needs the Secret Manager role that grants it"
        return GoogleRest(httpx.Client(timeout=30.0), provider, forbidden_hint=hint, attempts=3)

    def _gcp_store(self, project: str, credentials: Any) -> SecretStore:
        from freightliner.adapters.gcp.secret_manager import (  # noqa: PLC0415
            API_ENDPOINT,
            GcpSecretStore,
        )

        endpoint = os.environ.get(ENV_GCP_SECRETMANAGER_ENDPOINT) or API_ENDPOINT
        return GcpSecretStore(self._google_rest, project, credentials, endpoint)
