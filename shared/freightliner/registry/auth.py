"""The registry authentication dance as an `httpx.Auth` flow.

A registry answers 401 with a challenge. `Basic` means send the credentials; `Bearer` means
exchange them (or nothing, for anonymous pulls) at the realm for a token scoped to the
repository and actions. Tokens are cached per scope and sent up front once the realm is known,
so a copy pays the 401 round trip once per host, not once per request. When a registry refuses
credentials that used to work, the provider is asked to refresh them once.

Credentials stay with their registry: only requests to the registry's own origin (scheme, host,
port) are authorized, as httpx does for redirects; an upload `Location` or a `Link` elsewhere
is requested bare. The password goes to the realm the registry names only over HTTPS (or plain
HTTP between loopback hosts, or to the registry's own host when it speaks plain HTTP itself).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Generator

import httpx

from freightliner.domain.errors import (
    RateLimited,
    Timeout,
    Unauthorized,
    Unavailable,
    Unsupported,
    Where,
)
from freightliner.domain.registries import TransferLimits, is_loopback
from freightliner.domain.retry import retry_after_seconds
from freightliner.domain.single_flight import SingleFlightCache
from freightliner.ports.credentials import Credential, CredentialProvider
from freightliner.registry.challenge import Challenge, parse_challenge, scopes_for
from freightliner.registry.throughput import ThroughputFloor

MOUNT_FROM = "freightliner.mount_from"
AUTH_REFRESHED = "freightliner.auth_refreshed"
DEFAULT_TOKEN_TTL = 60.0
TOKEN_BODY_LIMIT = 1024 * 1024  # a token reply is a few KiB; containers/image allows 1 MiB

Origin = tuple[str, str, int]


def origin(url: httpx.URL) -> Origin:
    """(scheme, host, port) with the scheme's default port filled in."""
    port = url.port or (443 if url.scheme == "https" else 80)
    return (url.scheme, url.host, port)


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
        self._tokens: SingleFlightCache[tuple[str, ...], str] = SingleFlightCache(self._clock)
        self._generation = 0  # bumped on every invalidation, so stale tokens are not reused
        self._origin: Origin | None = None
        self.token_fetches = 0

    def bind(self, endpoint: str) -> None:
        """The registry endpoint this auth serves; no request is authorized before this."""
        bound = origin(httpx.URL(endpoint))
        if self._origin not in (None, bound):
            raise ValueError(f"auth for {self.host} is already bound to another endpoint")
        self._origin = bound

    def close(self) -> None:
        self._token_client.close()

    def _own(self, url: httpx.URL) -> bool:
        return self._origin is not None and origin(url) == self._origin

    # -- the flow -----------------------------------------------------------------------

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self._own(request.url):
            request.headers.pop("Authorization", None)  # another origin never sees them
            yield request
            return
        scopes = scopes_for(request.method, request.url.path, request.extensions.get(MOUNT_FROM))
        generation = self._generation
        self._authorize(request, scopes)
        response = yield request
        refreshed = False
        # A 401 from a host a redirect led to is not the registry's challenge.
        while response.status_code == 401 and self._own(response.request.url):
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
            request.headers["Authorization"] = f"Bearer {self._token(challenge, scopes)}"

    # -- bearer tokens ------------------------------------------------------------------

    def _token(self, challenge: Challenge, scopes: tuple[str, ...]) -> str:
        key = tuple(sorted(scopes))
        return self._tokens.get(key, lambda: self._fetch_token(challenge, key))

    def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...]) -> tuple[str, float]:
        realm = challenge.params.get("realm")
        where = Where(registry=self.host, operation="token request")
        if not realm:
            raise Unauthorized("Bearer challenge without a realm", where)
        params: list[tuple[str, str | int | float | bool | None]] = []
        if "service" in challenge.params:
            params.append(("service", challenge.params["service"]))
        params.extend(("scope", scope) for scope in scopes)
        credential = self._provider.get(self.host)
        if credential is not None:
            self._check_realm(realm, where)
        headers = {"Authorization": basic_header(credential)} if credential else {}
        method, form, follow = "GET", None, True
        if credential is not None and credential.identity_token is not None:
            # OAuth2 refresh token (docker config `identitytoken`): POSTed, never as Basic,
            # and to the checked realm only: a 307/308 would re-send the form elsewhere.
            method, headers, follow = "POST", {}, False
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credential.identity_token.get_secret_value(),
                "client_id": "freightliner",
                "service": challenge.params.get("service", ""),
                "scope": " ".join(scopes),
            }
            params = []
        self.token_fetches += 1
        service = f"token service {safe_url(realm)}"
        try:
            with self._token_client.stream(
                method, realm, params=params, headers=headers, data=form, follow_redirects=follow
            ) as reply:
                status = reply.status_code
                retry_after = retry_after_seconds(reply.headers.get("Retry-After"))
                body = _token_body(reply, status, service, where)
        except httpx.TimeoutException as exc:
            raise Timeout(f"{service} timed out ({type(exc).__name__})", where) from None
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise Unavailable(f"{service} unreachable: {type(exc).__name__}", where) from None
        if status in (401, 403):
            who = f"user {credential.username!r}" if credential else "anonymous access"
            raise Unauthorized(
                f"token service refused {who} for {' '.join(scopes) or 'registry access'}"
                f" (HTTP {status} from {safe_url(realm)}); check the credentials",
                where,
            )
        if status == 429:
            raise RateLimited(
                f"{service} rate limited the request (HTTP 429)", where, retry_after=retry_after
            )
        if status >= 500 or status == 408:
            raise Unavailable(f"{service} answered HTTP {status}", where)
        if status != 200:
            raise Unauthorized(f"{service} answered HTTP {status}", where)
        value = body.get("token") or body.get("access_token")
        if not isinstance(value, str) or not value:
            raise Unauthorized(f"{service} answered without a token", where)
        expires_in = body.get("expires_in")
        ttl = float(expires_in) if isinstance(expires_in, int | float) else DEFAULT_TOKEN_TTL
        return value, self._clock() + max(ttl - 10.0, 5.0)

    def _check_realm(self, realm: str, where: Where) -> None:
        """Refuse to send the password where it would travel in clear text."""
        try:
            url = httpx.URL(realm)
        except httpx.InvalidURL:
            raise Unauthorized("the registry named an unreadable token realm", where) from None
        if url.scheme == "https" and url.host:
            return
        if url.scheme == "http" and self._origin is not None and self._origin[0] == "http":
            registry_host = self._origin[1]
            if url.host == registry_host or (is_loopback(url.host) and is_loopback(registry_host)):
                return
        raise Unauthorized(
            f"refusing to send the credentials for {self.host} to token realm {safe_url(realm)}:"
            " a realm gets them only over HTTPS (or plain HTTP on loopback, or on the host of a"
            " plain-HTTP registry)",
            where,
        )


def safe_url(url: str) -> str:
    """A URL for messages: scheme, host, port and path, never a query or user info."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(unreadable URL)"
    return str(parsed.copy_with(query=None, fragment=None, userinfo=b""))


def _token_body(
    reply: httpx.Response, status: int, service: str, where: Where
) -> dict[str, object]:
    """The JSON object of a 200 token reply, read to `TOKEN_BODY_LIMIT`; `{}` otherwise."""
    if status != 200:
        return {}
    data = b""
    for chunk in ThroughputFloor(TransferLimits(), where).reads(reply.iter_bytes()):
        data += chunk
        if len(data) > TOKEN_BODY_LIMIT:
            raise Unsupported(f"{service} answered more than {TOKEN_BODY_LIMIT} bytes", where)
    try:
        body = json.loads(data)
    except ValueError:
        raise Unauthorized(f"{service} answered something other than JSON", where) from None
    if not isinstance(body, dict):
        raise Unauthorized(f"{service} answered JSON that is not an object", where)
    return body
