"""The secret-store port: AWS Secrets Manager and GCP Secret Manager behind one interface.

The CLI's `secrets` commands and credential references (`aws-sm://`, `gcp-sm://`) use only
this. Errors come from the project's taxonomy and name the secret and the permission at
fault, never the value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from freightliner.domain.secrets import (
    SecretDeletion,
    SecretSummary,
    SecretText,
    SecretValue,
    SecretVersion,
    StoreKind,
)


class SecretStore(Protocol):
    kind: StoreKind

    @property
    def location(self) -> str:
        """Where the store is, for audit events and messages: a region or a project."""
        ...

    def put(self, name: str, value: SecretText) -> SecretVersion:
        """Create the secret, or add a new current version when it exists."""
        ...

    def get(self, name: str, version: str | None = None, stage: str | None = None) -> SecretValue:
        """The latest value, or a given version (AWS: version id; GCP: number) or stage."""
        ...

    def delete(
        self, name: str, *, force: bool = False, version: str | None = None, recovery_days: int = 30
    ) -> SecretDeletion:
        """AWS: schedule deletion after a recovery window (`force`: now). GCP: delete the
        secret (needs `force`: there is no recovery) or destroy one version."""
        ...

    def list(self) -> Iterator[SecretSummary]: ...

    def caller_identity(self) -> str:
        """Who the store sees calling (an IAM ARN, a service account), for audit events."""
        ...
