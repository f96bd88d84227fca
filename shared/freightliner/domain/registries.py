"""The registries config: how to reach each registry host and how to authenticate there.

A host in an image reference is a name; this file maps it to an endpoint URL (so tests and
demos can point `123456789012.dkr.ecr.us-east-1.amazonaws.com` at a loopback registry), to a
TLS mode and to an auth kind. Hosts not listed get defaults: loopback speaks plain HTTP (as
Docker does), everything else verified TLS; ECR and GAR hosts use their cloud's auth.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from freightliner.domain.documents import load_document, read_document
from freightliner.domain.quotas import Pace, PaceScope, Pacing, default_pacing
from freightliner.domain.reference import ecr_host, gar_host, validate_host
from freightliner.domain.secrets import Redacted, SecretRefField

ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
"""An IAM role ARN (ASCII only, as IAM names are)."""

DOCKER_HUB_ENDPOINT = "https://registry-1.docker.io"


class TlsMode(StrEnum):
    VERIFY = "verify"
    INSECURE = "insecure"  # TLS without certificate verification
    PLAIN_HTTP = "plain-http"


class AuthKind(StrEnum):
    AUTO = "auto"  # ECR/GAR hosts use their cloud; others docker config, then anonymous
    ANONYMOUS = "anonymous"
    BASIC = "basic"
    DOCKER_CONFIG = "docker-config"
    ECR = "ecr"
    GAR = "gar"


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: AuthKind = AuthKind.AUTO
    username: str | None = None
    password: Redacted | None = None
    password_env: str | None = Field(
        default=None, description="read the password from this environment variable"
    )
    password_ref: SecretRefField | None = Field(
        default=None,
        description="read the password from a secret store, the environment or a file",
    )
    registry_id: str | None = Field(
        default=None, description="ECR: the account whose registry this is (cross-account)"
    )
    region: str | None = Field(default=None, description="ECR: region of the control plane")
    role_arn: str | None = Field(
        default=None, description="ECR: assume this IAM role for the registry's API calls"
    )
    service_account_key_file: Path | None = Field(
        default=None, description="GAR: a service-account JSON key instead of ADC"
    )
    credentials_ref: SecretRefField | None = Field(
        default=None,
        description="GAR: Google credentials JSON (service-account key or workload identity "
        "federation config) from a secret store or file",
    )

    @field_validator("role_arn")
    @classmethod
    def _role_arn(cls, value: str | None) -> str | None:
        if value is not None and not ROLE_ARN_RE.match(value):
            raise ValueError("role_arn must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
        return value

    @model_validator(mode="after")
    def _one_source_each(self) -> AuthConfig:
        given = [f for f in ("password", "password_env", "password_ref") if getattr(self, f)]
        if len(given) > 1:
            raise ValueError(f"give one of {', '.join(given)}, not several")
        if self.service_account_key_file and self.credentials_ref:
            raise ValueError("give service_account_key_file or credentials_ref, not both")
        return self


MANIFEST_LIMIT = 4 * 1024 * 1024
"""4 MiB: the largest manifest ECR stores (PutImage's imageManifest), distribution's own
limit (maxManifestBodySize) and containers/image's; the OCI spec lets registries refuse
larger ones (413), so nothing bigger is a manifest we could push anywhere."""


class TransferLimits(BaseModel):
    """What a registry may make a copy read or wait for: a registry is untrusted input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_manifest_bytes: int = Field(
        default=MANIFEST_LIMIT,
        ge=4096,
        le=64 * 1024 * 1024,
        description="manifests, indexes and referrers lists larger than this are refused",
    )
    connect_timeout: float = Field(default=10.0, gt=0, le=300)
    read_timeout: float = Field(
        default=60.0, gt=0, le=3600, description="seconds one read or write may block"
    )
    min_bytes_per_second: int = Field(
        default=10 * 1024,
        ge=0,
        description="a transfer slower than this over a window is stalled (0: no floor)",
    )
    throughput_window: float = Field(
        default=30.0, gt=0, le=3600, description="seconds of transfer the floor is judged over"
    )


class RegistryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str
    endpoint: str | None = None
    tls: TlsMode | None = None
    auth: AuthConfig = Field(default_factory=AuthConfig)
    api_endpoint: str | None = Field(
        default=None,
        description="Artifact Registry hosts: the control-plane REST endpoint tree syncs "
        "enumerate through (default https://artifactregistry.googleapis.com)",
    )
    max_concurrency: int = Field(default=32, ge=1, le=256)
    chunk_size: int = Field(
        default=128 * 1024 * 1024,
        ge=1024 * 1024,
        description="blobs larger than this are uploaded in PATCH chunks of this size",
    )
    limits: TransferLimits = Field(default_factory=TransferLimits)
    pacing: dict[PaceScope, Pace] = Field(
        default_factory=dict,
        description="request budgets of the whole fleet, by scope (all, write, read, "
        "manifest-pull, blob-upload, manifest-write); each replaces the default the host's "
        "published quota gives that scope ({} lifts it)",
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return validate_host(value)

    @field_validator("endpoint", "api_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("endpoint must start with http:// or https://")
        return value.rstrip("/") if value else value


class RegistriesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registries: list[RegistryConfig] = Field(default_factory=list)


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Registries:
    """Lookup of per-host settings, with defaults for hosts the file does not list."""

    def __init__(self, entries: list[RegistryConfig] | None = None) -> None:
        self._by_host = {entry.host: entry for entry in entries or []}

    @classmethod
    def load(cls, path: Path | None) -> Registries:
        if path is None:
            return cls()
        origin = f"registries config {path}"
        return cls(load_document(read_document(path, origin), origin, RegistriesFile).registries)

    def with_tls(self, modes: Mapping[str, TlsMode]) -> Registries:
        """These settings with `modes` (host -> TLS mode) replacing the file's: what the
        command line's `--tls-verify`/`--plain-http` flags say wins."""
        entries = dict(self._by_host)
        for host, mode in modes.items():
            entries[host] = self.get(host).model_copy(update={"tls": mode})
        return Registries(list(entries.values()))

    def hosts(self) -> list[str]:
        return list(self._by_host)

    def get(self, host: str) -> RegistryConfig:
        return self._by_host.get(host) or RegistryConfig(host=host)

    def endpoint(self, host: str) -> str:
        entry = self.get(host)
        if entry.endpoint:
            return entry.endpoint
        if host == "docker.io":
            return DOCKER_HUB_ENDPOINT
        scheme = "http" if self.tls(host) is TlsMode.PLAIN_HTTP else "https"
        return f"{scheme}://{host}"

    def tls(self, host: str) -> TlsMode:
        entry = self.get(host)
        if entry.tls is not None:
            return entry.tls
        if entry.endpoint:
            return TlsMode.PLAIN_HTTP if entry.endpoint.startswith("http://") else TlsMode.VERIFY
        return TlsMode.PLAIN_HTTP if is_loopback(host) else TlsMode.VERIFY

    def pacing(self, host: str) -> Pacing:
        """The host's request budgets: its registry's published quotas (`domain.quotas`),
        scope by scope replaced by what the config gives."""
        return {**default_pacing(host), **self.get(host).pacing}

    def auth_kind(self, host: str) -> AuthKind:
        kind = self.get(host).auth.kind
        if kind is not AuthKind.AUTO:
            return kind
        if ecr_host(host):
            return AuthKind.ECR
        if gar_host(host):
            return AuthKind.GAR
        return AuthKind.DOCKER_CONFIG
