"""Artifact Registry credentials: a Google OAuth access token sent as `oauth2accesstoken`.

Application-default credentials (metadata server, gcloud, workload identity federation) or a
service-account key file. The token is refreshed under a lock, ahead of expiry, so concurrent
copies share one refresh.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from freightliner.domain.errors import Unauthorized, Where
from freightliner.ports.credentials import Credential

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
REFRESH_MARGIN = dt.timedelta(minutes=5)
TOKEN_USER = "oauth2accesstoken"  # noqa: S105 - the fixed user name of token auth, no secret


def _load_credentials(key_file: Path | None) -> Any:
    import google.auth  # noqa: PLC0415 - deferred: only GAR users pay for the import
    from google.auth.exceptions import DefaultCredentialsError  # noqa: PLC0415
    from google.oauth2 import service_account  # noqa: PLC0415

    try:
        if key_file is not None:
            return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                str(key_file), scopes=SCOPES
            )
        credentials, _project = google.auth.default(scopes=SCOPES)
        return credentials
    except (DefaultCredentialsError, OSError, ValueError) as exc:
        raise Unauthorized(
            "no Google credentials found: set GOOGLE_APPLICATION_CREDENTIALS or configure "
            f"service_account_key_file ({type(exc).__name__})",
            Where(operation="load Google credentials"),
        ) from None


def _refresh_request() -> Any:
    from google.auth.transport.requests import Request  # noqa: PLC0415

    return Request()


class GarCredentialProvider:
    def __init__(
        self,
        key_file: Path | None = None,
        credentials: Any = None,
        request_factory: Callable[[], Any] = _refresh_request,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None),
    ) -> None:
        self._key_file = key_file
        self._credentials = credentials
        self._request_factory = request_factory
        self._now = now
        self._lock = threading.Lock()
        self._stale = False

    def _fresh(self) -> bool:
        creds = self._credentials
        if self._stale or creds is None or not getattr(creds, "token", None):
            return False
        expiry = getattr(creds, "expiry", None)  # naive UTC, as google-auth keeps it
        return expiry is None or expiry - REFRESH_MARGIN > self._now()

    def get(self, registry: str) -> Credential | None:
        if not self._fresh():
            with self._lock:
                if not self._fresh():
                    self._refresh(registry)
        return Credential(username=TOKEN_USER, password=SecretStr(str(self._credentials.token)))

    def _refresh(self, registry: str) -> None:
        from google.auth.exceptions import RefreshError, TransportError  # noqa: PLC0415

        if self._credentials is None:
            self._credentials = _load_credentials(self._key_file)
        try:
            self._credentials.refresh(self._request_factory())
        except (RefreshError, TransportError) as exc:
            raise Unauthorized(
                f"could not refresh the Google access token ({type(exc).__name__})",
                Where(registry, operation="Google token refresh"),
            ) from None
        self._stale = False

    def invalidate(self, registry: str) -> None:
        self._stale = True
