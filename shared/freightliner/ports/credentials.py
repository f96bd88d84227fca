"""The credential port: where a registry's username and password (or token) come from.

ECR, GAR, static, environment and docker-config providers all implement it; the registry
client's auth flow only ever sees this interface.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict

from freightliner.domain.secrets import Redacted


class Credential(BaseModel):
    """Basic credentials for a registry; `None` from a provider means anonymous.

    The registry's own challenge decides how they are used: sent as Basic auth, or exchanged
    for a Bearer token at the realm the registry names.
    """

    model_config = ConfigDict(frozen=True)

    username: str
    password: Redacted
    identity_token: Redacted | None = None
    """An OAuth2 refresh token (docker config's `identitytoken`): exchanged at the token realm
    with `grant_type=refresh_token` instead of sending the password."""

    def __repr__(self) -> str:
        token = ", identity_token=[REDACTED]" if self.identity_token else ""
        return f"Credential(username={self.username!r}, password=[REDACTED]{token})"

    __str__ = __repr__


class CredentialProvider(Protocol):
    def get(self, registry: str) -> Credential | None:
        """Credentials for `registry` (a host[:port]), cached as the provider sees fit."""
        ...

    def invalidate(self, registry: str) -> None:
        """Forget cached credentials after the registry refused them (a 401)."""
        ...
