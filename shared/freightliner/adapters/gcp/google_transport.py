"""google-auth over httpx: the `Request` its credentials refresh through, and credentials from
the GCE metadata server, so neither `requests` nor `google.auth.compute_engine` (which imports
`requests`) has to ship in the Lambda layer or the Cloud Function."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from google.auth import credentials as google_credentials
from google.auth import exceptions, transport

DEFAULT_TIMEOUT = 30.0
_DEFAULT_METADATA_HOST = "metadata.google.internal"
_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"  # noqa: S105 - a path


class _Response(transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class HttpxRequest(transport.Request):
    """google-auth's transport interface on an httpx client (token grants, STS exchanges,
    metadata reads); connection failures become google-auth's TransportError."""

    def __init__(self, http: httpx.Client | None = None) -> None:
        self._http = http or httpx.Client(timeout=DEFAULT_TIMEOUT)

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        try:
            response = self._http.request(
                method,
                url,
                content=body,
                headers=dict(headers or {}),
                timeout=timeout or DEFAULT_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise exceptions.TransportError(f"{type(exc).__name__} calling {url}") from None  # type: ignore[no-untyped-call]
        return _Response(response)


def metadata_host() -> str:
    """The metadata server google-auth would use (GCE_METADATA_HOST, else Google's name)."""
    return os.environ.get("GCE_METADATA_HOST") or _DEFAULT_METADATA_HOST


class MetadataCredentials(google_credentials.Scoped, google_credentials.Credentials):
    """The attached service account's access token from the metadata server (Cloud
    Functions, Cloud Run, GCE): what `google.auth.compute_engine.Credentials` does, through
    whatever transport the caller refreshes with."""

    def __init__(self, scopes: Sequence[str] | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._scopes = list(scopes or [])

    @property
    def requires_scopes(self) -> bool:
        return False

    def with_scopes(self, scopes: Sequence[str], default_scopes: Any = None) -> Any:
        return MetadataCredentials(scopes)

    def refresh(self, request: Any) -> None:
        params = f"?scopes={','.join(self._scopes)}" if self._scopes else ""
        response = request(
            url=f"http://{metadata_host()}{_TOKEN_PATH}{params}",
            method="GET",
            headers={"Metadata-Flavor": "Google"},
        )
        if response.status != 200:
            raise exceptions.RefreshError(  # type: ignore[no-untyped-call]
                f"the metadata server gave no access token (HTTP {response.status})"
            )
        try:
            answer = json.loads(response.data)
            self.token = str(answer["access_token"])
            lifetime = dt.timedelta(seconds=int(answer["expires_in"]))
        except (ValueError, KeyError, TypeError):
            raise exceptions.RefreshError(  # type: ignore[no-untyped-call]
                "the metadata server's token answer is invalid"
            ) from None
        # naive UTC, as google-auth keeps expiry
        self.expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + lifetime
