"""Google credentials for Artifact Registry and Secret Manager, from the first source that has
them: an explicit credentials JSON (a service-account key, or a workload identity federation
config so an AWS Lambda reaches Google without a long-lived key), then the
application-default chain.

The chain is ours rather than `google.auth.default()` because that one probes the metadata
server 3 times with a 3 s timeout, settable only before google-auth is imported; here the probe
takes one try of at most 2 s and then the next method is tried (or the error names them all).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from freightliner.domain.errors import InvalidInput, Unauthorized, Where
from freightliner.domain.secrets import Redacted

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
METADATA_TIMEOUT = 2.0
_DEFAULT_METADATA_IP = "169.254.169.254"
_DEFAULT_METADATA_HOST = "metadata.google.internal"
_IDENTITY_PATH = "/computeMetadata/v1/instance/service-accounts/default/identity"
_WHERE = Where(operation="load Google credentials")


def from_info(info: object, origin: str) -> Any:
    """A service-account key, an external account (workload identity federation from AWS or
    from a token file/URL) or an authorized user; other kinds (e.g. executable-sourced) are
    refused, as Google advises for configurations read from elsewhere."""
    from google.auth.exceptions import DefaultCredentialsError  # noqa: PLC0415

    if not isinstance(info, dict) or "type" not in info:
        raise InvalidInput(f"{origin}: not a Google credentials JSON object (no 'type')", _WHERE)
    kind = info["type"]
    source = info.get("credential_source") or {}
    try:
        if kind == "service_account":
            from google.oauth2 import service_account  # noqa: PLC0415 - only Google users

            return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)  # type: ignore[no-untyped-call]
        if kind == "external_account" and str(source.get("environment_id", "")).startswith("aws"):
            from google.auth import aws  # noqa: PLC0415

            return aws.Credentials.from_info(info, scopes=SCOPES)  # type: ignore[no-untyped-call]
        if kind == "external_account" and ("file" in source or "url" in source):
            from google.auth import identity_pool  # noqa: PLC0415

            return identity_pool.Credentials.from_info(info, scopes=SCOPES)  # type: ignore[no-untyped-call]
        if kind == "authorized_user":
            from google.oauth2 import credentials  # noqa: PLC0415

            return credentials.Credentials.from_authorized_user_info(info, scopes=SCOPES)  # type: ignore[no-untyped-call]
    except (DefaultCredentialsError, ValueError, KeyError) as exc:
        raise InvalidInput(
            f"{origin}: unusable Google credentials of type {kind!r} ({type(exc).__name__})",
            _WHERE,
        ) from None
    raise InvalidInput(
        f"{origin}: Google credentials of type {kind!r} are not supported; use a "
        "service-account key, a workload identity federation config (AWS, file or URL "
        "source) or authorized-user JSON",
        _WHERE,
    )


def from_json(text: str, origin: str) -> Any:
    try:
        info = json.loads(text)
    except ValueError:
        raise InvalidInput(f"{origin}: Google credentials must be JSON", _WHERE) from None
    return from_info(info, origin)


def from_file(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise Unauthorized(
            f"cannot read Google credentials {path}: {exc.strerror}", _WHERE
        ) from None
    return from_json(text, str(path))


def _gcloud_adc_path() -> Path:
    base = os.environ.get("CLOUDSDK_CONFIG")
    root = Path(base) if base else Path.home() / ".config" / "gcloud"
    return root / "application_default_credentials.json"


def metadata_server_answers(timeout: float = METADATA_TIMEOUT) -> bool:
    """One probe of the GCE metadata server (the address google-auth uses), bounded."""
    if os.environ.get("NO_GCE_CHECK") == "true":
        return False
    address = os.environ.get("GCE_METADATA_IP") or _DEFAULT_METADATA_IP
    try:
        response = httpx.get(
            f"http://{address}/", headers={"Metadata-Flavor": "Google"}, timeout=timeout
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.headers.get("Metadata-Flavor") == "Google"


def identity_token(audience: str, timeout: float = METADATA_TIMEOUT) -> Redacted:
    """A Google-signed ID token for this instance's service account (`format=full`: with the
    project and instance claims), from the metadata server (`GCE_METADATA_HOST`, as in
    google-auth); one try of at most `timeout` seconds."""
    host = os.environ.get("GCE_METADATA_HOST") or _DEFAULT_METADATA_HOST
    where = Where(operation=f"fetch a Google ID token for audience {audience}")
    try:
        response = httpx.get(
            f"http://{host}{_IDENTITY_PATH}",
            params={"audience": audience, "format": "full"},
            headers={"Metadata-Flavor": "Google"},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise Unauthorized(
            f"no metadata server answered at {host} within {timeout:g} s ({type(exc).__name__})",
            where,
        ) from None
    if response.status_code != 200 or not response.text:
        raise Unauthorized(
            f"the metadata server at {host} gave no ID token (HTTP {response.status_code})", where
        )
    return Redacted(response.text.strip())


def application_default(
    probe: Callable[[], bool] = metadata_server_answers,
) -> Any:
    """GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default file, the metadata server."""
    tried = []
    configured = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if configured:
        return from_file(Path(configured))
    tried.append("GOOGLE_APPLICATION_CREDENTIALS is not set")
    gcloud = _gcloud_adc_path()
    if gcloud.is_file():
        return from_file(gcloud)
    tried.append(f"no gcloud application-default credentials at {gcloud}")
    if probe():
        from freightliner.adapters.gcp.google_transport import MetadataCredentials  # noqa: PLC0415

        return MetadataCredentials(SCOPES)
    tried.append(f"no metadata server answered within {METADATA_TIMEOUT:g} s")
    raise Unauthorized("no Google credentials found: " + "; ".join(tried), _WHERE)
