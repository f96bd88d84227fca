"""Artifact Registry credentials: a Google OAuth access token sent as `oauth2accesstoken`.

Where the Google credentials come from (application default, a key file, a key or workload
identity federation config from a secret) is the loader's business. The token is refreshed
under a lock, ahead of expiry, so concurrent copies share one refresh; after a 401 the
credentials are loaded again, so a rotated key in a secret store is picked up. A token endpoint
that is unreachable or failing is a retryable error, like a registry that is; only a refusal is
an auth error.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from freightliner.adapters.gcp.google_credentials import application_default
from freightliner.domain.errors import Unauthorized, Unavailable, Where
from freightliner.domain.secrets import Redacted
from freightliner.ports.credentials import Credential


def _refresh_request() -> Any:
    """google-auth's transport over httpx (google-auth itself loads only when first used)."""
    from freightliner.adapters.gcp.google_transport import HttpxRequest  # noqa: PLC0415

    return HttpxRequest()


REFRESH_MARGIN = dt.timedelta(minutes=5)
TOKEN_USER = "oauth2accesstoken"  # noqa: S105 - the fixed user name of token auth, no secret


class GarCredentialProvider:
    def __init__(
        self,
        load: Callable[[], Any] = application_default,
        forget: Callable[[], None] = lambda: None,
        request_factory: Callable[[], Any] = _refresh_request,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None),
    ) -> None:
        self._load = load
        self._forget = forget
        self._credentials: Any = None
        self._request_factory = request_factory
        self._request: Any = None  # one transport (and its connections) for every refresh
        self._now = now
        self._lock = threading.Lock()

    def _fresh(self) -> bool:
        creds = self._credentials
        if creds is None or not getattr(creds, "token", None):
            return False
        expiry = getattr(creds, "expiry", None)  # naive UTC, as google-auth keeps it
        return expiry is None or expiry - REFRESH_MARGIN > self._now()

    def get(self, registry: str) -> Credential | None:
        with self._lock:  # one refresh for all callers; never a half-invalidated state
            if not self._fresh():
                self._refresh(registry)
            token = str(self._credentials.token)
        return Credential(username=TOKEN_USER, password=Redacted(token))

    def _refresh(self, registry: str) -> None:
        from google.auth.exceptions import RefreshError, TransportError  # noqa: PLC0415

        if self._credentials is None:
            self._credentials = self._load()
        where = Where(registry, operation="Google token refresh")
        try:
            if self._request is None:
                self._request = self._request_factory()
            self._credentials.refresh(self._request)
        except TransportError as exc:
            raise Unavailable(
                f"the Google token endpoint is unreachable ({type(exc).__name__})", where
            ) from None
        except RefreshError as exc:
            if exc.retryable:  # google-auth marks 5xx, 429 and timeouts retryable
                raise Unavailable(
                    "the Google token endpoint failed (RefreshError, retryable)", where
                ) from None
            raise Unauthorized(
                f"could not refresh the Google access token ({type(exc).__name__})", where
            ) from None

    def invalidate(self, registry: str) -> None:
        """The registry refused the token: load the credentials again before the next use."""
        with self._lock:
            self._forget()
            self._credentials = None
