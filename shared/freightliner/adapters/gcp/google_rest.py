"""Google Cloud REST calls (Artifact Registry, Container Analysis, Pub/Sub, Secret Manager) on
httpx: the Google access token as a Bearer, one token refresh after a 401, Google's errors
mapped onto the taxonomy, and `nextPageToken` pages followed. No Google client library (nor
gRPC) has to ship with the functions.

Retries follow the one retry policy (`domain.retry`): a call and the token refresh it needs
are tried again together, after full-jitter backoff or the Retry-After Google sent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from httpx import USE_CLIENT_DEFAULT

from freightliner.adapters.gcp.gar_auth import TOKEN_USER
from freightliner.domain.errors import (
    Forbidden,
    FreightlinerError,
    InvalidInput,
    NotFound,
    RateLimited,
    Timeout,
    Unauthorized,
    Unavailable,
    Where,
)
from freightliner.domain.retry import RetryPolicy, retry_after_seconds
from freightliner.ports.credentials import CredentialProvider


def google_error(response: httpx.Response, where: Where, forbidden_hint: str) -> FreightlinerError:
    """The taxonomy error for a Google API answer; its message, never the token."""
    try:
        error = response.json().get("error") or {}
        detail = str(error.get("message", "")) if isinstance(error, dict) else ""
    except (ValueError, AttributeError):
        detail = ""
    status = response.status_code
    text = f"HTTP {status}" + (f": {detail}" if detail else "")
    if status == 429:
        return RateLimited(text, where, retry_after_seconds(response.headers.get("Retry-After")))
    if status >= 500:
        return Unavailable(text, where)
    if status == 401:
        return Unauthorized(text, where)
    if status == 403:
        return Forbidden(f"{text} ({forbidden_hint})", where)
    if status == 404:
        return NotFound(text, where)
    return InvalidInput(text, where)


ErrorMapper = Callable[[httpx.Response, Where], FreightlinerError]


@dataclass(frozen=True)
class _Call:
    method: str
    url: str
    params: dict[str, Any] | None
    body: dict[str, Any] | None
    timeout: float | None


class GoogleRest:
    def __init__(
        self,
        http: httpx.Client,
        credentials: CredentialProvider,
        *,
        forbidden_hint: str,
        attempts: int = 1,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._http = http  # built (and closed) by the composition root
        self._credentials = credentials
        self._hint = forbidden_hint
        # `attempts` tries for retryable answers (1: the caller retries) under the one policy
        self._retry = retry or RetryPolicy(attempts=attempts)

    def pages(
        self,
        url: str,
        params: dict[str, Any],
        key: str,
        registry: str,
        where: Where,
        *,
        errors: ErrorMapper | None = None,
    ) -> Iterator[dict[str, Any]]:
        query = dict(params)
        while True:
            page = self.call("GET", url, registry, where, params=query, errors=errors)
            yield from page.get(key) or []
            token = page.get("nextPageToken")
            if not token:
                return
            query["pageToken"] = token

    def get(self, url: str, params: dict[str, Any], registry: str, where: Where) -> dict[str, Any]:
        return self.call("GET", url, registry, where, params=params)

    def call(
        self,
        method: str,
        url: str,
        registry: str,
        where: Where,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        errors: ErrorMapper | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """One API call's JSON answer; a failure as the taxonomy error `errors` (default:
        `google_error`) makes of Google's answer."""
        request = _Call(method, url, params, body, timeout)
        return self._retry.call(lambda: self._call_once(request, registry, where, errors))

    def _call_once(
        self, request: _Call, registry: str, where: Where, errors: ErrorMapper | None
    ) -> dict[str, Any]:
        response = self._send(request, registry, where)
        if response.status_code == 401:  # an expired or revoked token: refresh once
            self._credentials.invalidate(registry)
            response = self._send(request, registry, where)
        if not response.is_success:
            if errors is not None:
                raise errors(response, where)
            raise google_error(response, where, self._hint)
        if not response.content:
            return {}
        try:
            answer = response.json()
        except ValueError:
            raise Unavailable("the answer is not JSON", where) from None
        return answer if isinstance(answer, dict) else {}

    def _send(self, request: _Call, registry: str, where: Where) -> httpx.Response:
        try:
            return self._http.request(
                request.method,
                request.url,
                params=request.params,
                json=request.body,
                headers=self._auth(registry, where),
                timeout=request.timeout if request.timeout is not None else USE_CLIENT_DEFAULT,
            )
        except httpx.TimeoutException:
            raise Timeout("request timed out", where) from None
        except httpx.TransportError as exc:
            raise Unavailable(f"connection failed ({type(exc).__name__})", where) from None

    def _auth(self, registry: str, where: Where) -> dict[str, str]:
        credential = self._credentials.get(registry)
        if credential is None:
            return {}  # an endpoint that needs no token (a local stand-in)
        if credential.username != TOKEN_USER:
            raise Unauthorized(
                "Google APIs: this registry needs a Google OAuth access token; give it auth kind "
                "gar (application-default credentials, a service-account key or workload "
                "identity federation)",
                where,
            )
        return {"Authorization": f"Bearer {credential.password.get_secret_value()}"}
