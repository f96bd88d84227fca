"""The registry authentication dance as an `httpx.Auth` flow.

A registry answers 401 with a challenge. `Basic` means send the credentials; `Bearer` means
exchange them (or nothing, for anonymous pulls) at the realm for a token scoped to the
repository and actions. Tokens are cached per scope and sent up front once the realm is known,
so a copy pays the 401 round trip once per host, not once per request. When a registry refuses
credentials that used to work, the provider is asked to refresh them once.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Generator

import httpx

from freightliner.domain.errors import Unauthorized, Where
from freightliner.domain.single_flight import SingleFlightCache
from freightliner.ports.credentials import Credential, CredentialProvider
from freightliner.registry.challenge import Challenge, parse_challenge, scopes_for

log = logging.getLogger(__name__)

MOUNT_FROM = "freightliner.mount_from"
AUTH_REFRESHED = "freightliner.auth_refreshed"
DEFAULT_TOKEN_TTL = 60.0
_NOT_CACHED = float("-inf")  # the expiry of "no token": the next request asks again


def basic_header(credential: Credential) -> str:
    raw = f"{credential.username}:{credential.password.get_secret_value()}".encode()
    return "Basic " + base64.b64encode(raw).decode()


class RegistryAuth(httpx.Auth):
    """Auth flow for one registry host; thread-safe, shared by every request to the host."""

    def __init__(
        self,
        host: str,
        provider: CredentialProvider,
        token_client: httpx.Client,
    ) -> None:
        self.host = host
        self._provider = provider
        self._token_client = token_client
        self._clock = time.monotonic
        self._lock = threading.Lock()
        self._challenge: Challenge | None = None
        self._tokens: SingleFlightCache[tuple[str, ...], str | None] = SingleFlightCache(
            self._clock
        )
        self._generation = 0  # bumped on every invalidation, so stale tokens are not reused
        self.token_fetches = 0

    def close(self) -> None:
        self._token_client.close()

    # -- the flow -----------------------------------------------------------------------

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        scopes = scopes_for(request.method, request.url.path, request.extensions.get(MOUNT_FROM))
        generation = self._generation
        self._authorize(request, scopes)
        response = yield request
        refreshed = False
        while response.status_code == 401:
            challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
            if challenge is None or challenge.scheme not in ("basic", "bearer"):
                return
            with self._lock:
                self._challenge = challenge
                if "Authorization" in request.headers:
                    if refreshed:
                        return  # refused even after a refresh: the caller reports it
                    refreshed = True
                    if generation == self._generation:
                        # What we sent was refused: drop tokens and refresh credentials once.
                        self._generation += 1
                        self._tokens.clear()
                        self._provider.invalidate(self.host)
                    generation = self._generation
            if challenge.scheme == "bearer" and "scope" in challenge.params:
                scopes = tuple(dict.fromkeys((*scopes, *challenge.params["scope"].split(" "))))
            if not isinstance(request.stream, httpx.ByteStream):
                # A streamed body cannot be sent twice; the caller restarts the operation.
                request.extensions[AUTH_REFRESHED] = True
                return
            self._authorize(request, scopes)
            if "Authorization" not in request.headers:
                return
            response = yield request

    def _authorize(self, request: httpx.Request, scopes: tuple[str, ...]) -> None:
        challenge = self._challenge
        if challenge is None:
            return
        request.headers.pop("Authorization", None)
        if challenge.scheme == "basic":
            credential = self._provider.get(self.host)
            if credential is not None:
                request.headers["Authorization"] = basic_header(credential)
        elif challenge.scheme == "bearer":
            token = self._token(challenge, scopes)
            if token:
                request.headers["Authorization"] = f"Bearer {token}"

    # -- bearer tokens ------------------------------------------------------------------

    def _token(self, challenge: Challenge, scopes: tuple[str, ...]) -> str | None:
        key = tuple(sorted(scopes))
        return self._tokens.get(key, lambda: self._fetch_token(challenge, key))

    def _fetch_token(
        self, challenge: Challenge, scopes: tuple[str, ...]
    ) -> tuple[str | None, float]:
        realm = challenge.params.get("realm")
        where = Where(registry=self.host, operation="token request")
        if not realm:
            raise Unauthorized("Bearer challenge without a realm", where)
        params: list[tuple[str, str | int | float | bool | None]] = []
        if "service" in challenge.params:
            params.append(("service", challenge.params["service"]))
        params.extend(("scope", scope) for scope in scopes)
        credential = self._provider.get(self.host)
        headers = {"Authorization": basic_header(credential)} if credential else {}
        self.token_fetches += 1
        try:
            response = self._token_client.get(realm, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise Unauthorized(
                f"token service {httpx.URL(realm).host} unreachable: {type(exc).__name__}", where
            ) from None
        if response.status_code in (401, 403):
            who = f"user {credential.username!r}" if credential else "anonymous access"
            raise Unauthorized(
                f"token service refused {who} for {' '.join(scopes) or 'registry access'}"
                f" (HTTP {response.status_code}); check the credentials",
                where,
            )
        if response.status_code != 200:
            log.warning("token service answered HTTP %s for %s", response.status_code, self.host)
            return None, _NOT_CACHED
        body = response.json()
        value = body.get("token") or body.get("access_token")
        if not value:
            raise Unauthorized("token service answered without a token", where)
        ttl = float(body.get("expires_in") or DEFAULT_TOKEN_TTL)
        return str(value), self._clock() + max(ttl - 10.0, 5.0)
