"""Google Cloud REST reads (Artifact Registry, Container Analysis): GET with the registry's
Google access token as a Bearer, one token refresh after a 401, Google's errors mapped onto
the taxonomy, and `nextPageToken` pages followed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx

from freightliner.adapters.gcp.gar_auth import TOKEN_USER
from freightliner.domain.errors import (
    Forbidden,
    FreightlinerError,
    InvalidInput,
    NotFound,
    RateLimited,
    RetryableError,
    Timeout,
    Unauthorized,
    Unavailable,
    Where,
)
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
        return RateLimited(text, where)
    if status >= 500:
        return Unavailable(text, where)
    if status == 401:
        return Unauthorized(text, where)
    if status == 403:
        return Forbidden(f"{text} ({forbidden_hint})", where)
    if status == 404:
        return NotFound(text, where)
    return InvalidInput(text, where)


class GoogleRest:
    def __init__(
        self,
        http: httpx.Client,
        credentials: CredentialProvider,
        *,
        forbidden_hint: str,
        attempts: int = 1,
    ) -> None:
        self._http = http  # built (and closed) by the composition root
        self._credentials = credentials
        self._hint = forbidden_hint
        self._attempts = attempts  # tries for retryable answers (1: the caller retries)

    def pages(
        self, url: str, params: dict[str, Any], key: str, registry: str, where: Where
    ) -> Iterator[dict[str, Any]]:
        query = dict(params)
        while True:
            page = self.get(url, query, registry, where)
            yield from page.get(key) or []
            token = page.get("nextPageToken")
            if not token:
                return
            query["pageToken"] = token

    def get(self, url: str, params: dict[str, Any], registry: str, where: Where) -> dict[str, Any]:
        for attempt in range(self._attempts):
            try:
                return self._get_once(url, params, registry, where)
            except RetryableError:
                if attempt == self._attempts - 1:
                    raise
                time.sleep(min(2**attempt * 0.5, 8))
        raise Unavailable("no attempt was made", where)

    def _get_once(
        self, url: str, params: dict[str, Any], registry: str, where: Where
    ) -> dict[str, Any]:
        response = self._send(url, params, registry, where)
        if response.status_code == 401:  # an expired or revoked token: refresh once
            self._credentials.invalidate(registry)
            response = self._send(url, params, registry, where)
        if not response.is_success:
            raise google_error(response, where, self._hint)
        try:
            body = response.json()
        except ValueError:
            raise Unavailable("the answer is not JSON", where) from None
        return body if isinstance(body, dict) else {}

    def _send(
        self, url: str, params: dict[str, Any], registry: str, where: Where
    ) -> httpx.Response:
        try:
            return self._http.get(url, params=params, headers=self._auth(registry, where))
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
