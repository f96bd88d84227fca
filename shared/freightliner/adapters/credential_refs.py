"""Credential references resolved lazily, cached for a TTL, and read again after the registry
refused what they gave (so a rotated secret is picked up without a redeploy).

`aws-sm://` and `gcp-sm://` go through the `SecretStore` port; `env://` and `file://` are read
here. A `#key` suffix takes one string field of a JSON secret.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from freightliner.domain.errors import InvalidInput, Where
from freightliner.domain.secrets import Redacted, RefScheme, SecretRef
from freightliner.domain.single_flight import SingleFlightCache
from freightliner.environment import ENV_SECRET_TTL
from freightliner.ports.credentials import Credential
from freightliner.ports.secrets import SecretStore

DEFAULT_TTL = 300.0


def secret_ttl() -> float:
    """Seconds a resolved credential reference is reused (FREIGHTLINER_SECRET_TTL)."""
    return float(os.environ.get(ENV_SECRET_TTL) or DEFAULT_TTL)


StoreFor = Callable[[SecretRef], SecretStore]
"""The store a secret-manager reference lives in (its region or project); from the
composition root."""


class ReferenceResolver:
    """Thread-safe; concurrent lookups of one reference share a single read."""

    def __init__(
        self,
        store_for: StoreFor,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store_for = store_for
        self._ttl = ttl
        self._clock = clock
        self._cache: SingleFlightCache[SecretRef, Redacted] = SingleFlightCache(clock)
        self.reads = 0

    def resolve(self, ref: SecretRef) -> Redacted:
        def load() -> tuple[Redacted, float]:
            self.reads += 1
            value = _select(ref, self._read(ref))
            return value, self._clock() + self._ttl

        return self._cache.get(ref, load)

    def invalidate(self, ref: SecretRef) -> None:
        self._cache.invalidate(ref)

    def _read(self, ref: SecretRef) -> Redacted:
        where = Where(operation=f"resolve {ref}")
        if ref.scheme is RefScheme.ENV:
            value = os.environ.get(ref.name)
            if value is None:
                raise InvalidInput(f"environment variable {ref.name} is not set", where)
            return Redacted(value)
        if ref.scheme is RefScheme.FILE:
            try:
                return Redacted(Path(ref.name).read_text().rstrip("\r\n"))
            except OSError as exc:
                raise InvalidInput(f"cannot read {ref.name}: {exc.strerror}", where) from None
        return self._store_for(ref).get(ref.name, version=ref.version).value


def _select(ref: SecretRef, value: Redacted) -> Redacted:
    """The `#key` field of a JSON value, or the whole value."""
    if ref.json_key is None:
        return value
    where = Where(operation=f"resolve {ref}")
    try:
        document = json.loads(value.get_secret_value())
    except ValueError:
        raise InvalidInput("the secret is not JSON, so it has no keys", where) from None
    if not isinstance(document, dict) or ref.json_key not in document:
        raise InvalidInput(f"the secret's JSON has no key {ref.json_key!r}", where)
    field = document[ref.json_key]
    if not isinstance(field, str):
        raise InvalidInput(f"the secret's key {ref.json_key!r} is not a string", where)
    return Redacted(field)


class ReferenceCredentialProvider:
    """A username with a password from a reference; a 401 makes the next use read it again."""

    def __init__(self, username: str, password: SecretRef, resolver: ReferenceResolver) -> None:
        self._username = username
        self._password = password
        self._resolver = resolver

    def get(self, registry: str) -> Credential | None:
        return Credential(username=self._username, password=self._resolver.resolve(self._password))

    def invalidate(self, registry: str) -> None:
        self._resolver.invalidate(self._password)
