"""ECR registry credentials from `ecr:GetAuthorizationToken`, per registry id (cross-account).

Tokens last 12 hours; each is cached until 15 minutes before it expires and refreshed once
when the registry answers 401. A token whose `expiresAt` is already past (moto answers with a
date in 2015) is still cached for a minimum time, so it can never cause a refresh loop.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from freightliner.adapters.aws.ecr_registry import EcrClientFactory, EcrTargets, ecr_registry
from freightliner.adapters.aws.errors import aws_error
from freightliner.domain.errors import Where
from freightliner.ports.credentials import Credential


@dataclass(slots=True)
class _Cached:
    credential: Credential
    valid_until: float


class EcrCredentialProvider:
    def __init__(
        self,
        client_factory: EcrClientFactory,
        targets: EcrTargets | None = None,
        clock: Callable[[], float] = time.time,
        refresh_margin: float = 900.0,
        min_ttl: float = 300.0,
    ) -> None:
        self._factory = client_factory
        self._targets = dict(targets or {})
        self._clock = clock
        self._margin = refresh_margin
        self._min_ttl = min_ttl
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.api_calls = 0

    def registry_of(self, host: str) -> tuple[str, str]:
        return ecr_registry(host, self._targets)

    def get(self, registry: str) -> Credential | None:
        registry_id, region = self.registry_of(registry)
        cached = self._cache.get(registry_id)
        if cached and cached.valid_until > self._clock():
            return cached.credential
        with self._guard:
            lock = self._locks.setdefault(registry_id, threading.Lock())
        with lock:  # single flight: concurrent callers wait for one API call
            cached = self._cache.get(registry_id)
            if cached and cached.valid_until > self._clock():
                return cached.credential
            fresh = self._fetch(registry_id, region, registry)
            self._cache[registry_id] = fresh
            return fresh.credential

    def invalidate(self, registry: str) -> None:
        registry_id, _ = self.registry_of(registry)
        self._cache.pop(registry_id, None)

    def _fetch(self, registry_id: str, region: str, host: str) -> _Cached:
        where = Where(host, operation="ecr:GetAuthorizationToken")
        self.api_calls += 1
        try:
            response = self._factory(region).get_authorization_token(registryIds=[registry_id])
        except (ClientError, BotoCoreError) as exc:
            raise aws_error(exc, where) from None
        data = response["authorizationData"][0]
        username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        expires = data.get("expiresAt")
        now = self._clock()
        until = expires.timestamp() - self._margin if expires is not None else now
        return _Cached(
            Credential(username=username, password=SecretStr(password)),
            max(until, now + self._min_ttl),
        )
