"""GCP Secret Manager as a `SecretStore`, over its v1 REST API on httpx (no client library to
ship with the functions; the endpoint is configurable like boto3's `endpoint_url`).

Failures name the secret and the IAM permission the caller needs; the API's own text is never
used.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Any

import httpx

from freightliner.adapters.gcp.google_rest import ErrorMapper, GoogleRest
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
from freightliner.domain.secrets import (
    GCP_SECRET_ID_RE,
    GCP_VERSION_RE,
    Redacted,
    SecretDeletion,
    SecretSummary,
    SecretText,
    SecretValue,
    SecretVersion,
    StoreKind,
)

API_ENDPOINT = "https://secretmanager.googleapis.com"
API_HOST = "secretmanager.googleapis.com"  # the key its Google credentials are kept under


class GcpSecretStore:
    kind = StoreKind.GCP

    def __init__(
        self, rest: GoogleRest, project: str, credentials: Any, endpoint: str = API_ENDPOINT
    ) -> None:
        self._rest = rest
        self._project = project
        self._credentials = credentials
        self._base = f"{endpoint.rstrip('/')}/v1"

    @property
    def location(self) -> str:
        return f"projects/{self._project}"

    def _path(self, name: str) -> str:
        if not GCP_SECRET_ID_RE.match(name):
            raise InvalidInput(
                f"{name!r} is not a GCP secret id: 1-255 of letters, digits, '-' and '_'"
            )
        return f"projects/{self._project}/secrets/{name}"

    def _call(
        self,
        method: str,
        path: str,
        permission: str,
        name: str | None,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self._rest.call(
            method,
            f"{self._base}/{path}",
            API_HOST,
            Where(operation=permission),
            params=params,
            body=body,
            errors=self._errors(permission, name),
        )

    def _errors(self, permission: str, name: str | None) -> ErrorMapper:
        return lambda response, where: _error(response, permission, name, self._project)

    def put(self, name: str, value: SecretText) -> SecretVersion:
        path = self._path(name)
        data = base64.b64encode(value.value.get_secret_value().encode()).decode()
        add = "secretmanager.versions.add"
        body = {"payload": {"data": data}}
        try:
            reply = self._call("POST", f"{path}:addVersion", add, name, body=body)
        except NotFound:
            self._call(
                "POST",
                f"{self.location}/secrets",
                "secretmanager.secrets.create",
                name,
                params={"secretId": name},
                body={"replication": {"automatic": {}}},
            )
            reply = self._call("POST", f"{path}:addVersion", add, name, body=body)
        return SecretVersion(
            name=name, version=_last(reply.get("name", "")), created=reply.get("createTime")
        )

    def get(self, name: str, version: str | None = None, stage: str | None = None) -> SecretValue:
        if stage:
            raise InvalidInput("GCP Secret Manager has no stages; give a version number")
        version = version or "latest"
        if not GCP_VERSION_RE.match(version):
            raise InvalidInput(f"GCP secret versions are numbers or 'latest', not {version!r}")
        path = f"{self._path(name)}/versions/{version}"
        reply = self._call("GET", f"{path}:access", "secretmanager.versions.access", name)
        try:
            text = base64.b64decode(reply["payload"]["data"], validate=True).decode()
        except (KeyError, TypeError, binascii.Error):
            raise Unavailable(
                f"secret {name!r}: GCP Secret Manager answered without a payload",
                Where(operation="secretmanager.versions.access"),
            ) from None
        except UnicodeDecodeError:
            raise InvalidInput(f"secret {name!r} holds binary data, not text") from None
        return SecretValue(name=name, version=_last(reply.get("name", "")), value=Redacted(text))

    def delete(
        self, name: str, *, force: bool = False, version: str | None = None, recovery_days: int = 30
    ) -> SecretDeletion:
        path = self._path(name)
        if version:
            if not version.isdigit():
                raise InvalidInput(f"give the number of the version to destroy, not {version!r}")
            destroy = "secretmanager.versions.destroy"
            self._call("POST", f"{path}/versions/{version}:destroy", destroy, name, body={})
            return SecretDeletion(name=name, version=version)
        if not force:
            raise InvalidInput(
                f"secret {name!r}: GCP Secret Manager deletes a secret and all its versions at "
                "once, with no recovery window; pass --force to do it, or --version N to "
                "destroy one version"
            )
        self._call("DELETE", path, "secretmanager.secrets.delete", name)
        return SecretDeletion(name=name)

    def list(self) -> Iterator[SecretSummary]:
        permission = "secretmanager.secrets.list"
        for secret in self._rest.pages(
            f"{self._base}/{self.location}/secrets",
            {},
            "secrets",
            API_HOST,
            Where(operation=permission),
            errors=self._errors(permission, None),
        ):
            yield SecretSummary(
                name=_last(secret.get("name", "")), created=secret.get("createTime")
            )

    def caller_identity(self) -> str:
        email = getattr(self._credentials, "service_account_email", None)
        return str(email) if email else f"unknown ({type(self._credentials).__name__})"


def _error(
    response: httpx.Response, permission: str, name: str | None, project: str
) -> FreightlinerError:
    where = Where(operation=permission)
    target = f"secret {name!r}" if name else "secrets"
    code = response.status_code
    if code == 404:
        return NotFound(f"{target} not found in GCP project {project}", where)
    if code == 403:
        return Forbidden(
            f"{target} (project {project}): permission denied; the caller needs "
            f"{permission} (or the secret does not exist)",
            where,
        )
    if code == 401:
        return Unauthorized(f"{target}: the Google credentials were refused", where)
    if code == 409:
        return InvalidInput(f"{target} already exists in project {project}", where)
    if code == 429:
        return RateLimited(f"{target}: rate limited by GCP Secret Manager", where)
    if code == 504:
        return Timeout(f"{target}: GCP Secret Manager timed out", where)
    if code >= 500:
        return Unavailable(f"{target}: GCP Secret Manager error HTTP {code}", where)
    if code == 400 and _status(response) == "FAILED_PRECONDITION":
        return NotFound(f"{target}: that version is destroyed or disabled", where)
    return InvalidInput(f"{target}: GCP Secret Manager refused the request (HTTP {code})", where)


def _status(response: httpx.Response) -> str:
    """Google's error status name (e.g. FAILED_PRECONDITION), never its message text."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return str(error.get("status", "")) if isinstance(error, dict) else ""


def _last(path: str) -> str:
    return path.rsplit("/", 1)[-1]
