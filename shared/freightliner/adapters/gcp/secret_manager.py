"""GCP Secret Manager as a `SecretStore` (google-cloud-secret-manager, REST transport).

The composition root builds the client; REST rather than gRPC keeps the dependency light in a
Lambda and lets `api_endpoint` point at any HTTP endpoint. Failures name the secret and the
IAM permission the caller needs; the API's own text is never used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

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

TIMEOUT = 30.0


class GcpSecretStore:
    kind = StoreKind.GCP

    def __init__(self, client: Any, project: str, credentials: Any) -> None:
        self._client = client
        self._project = project
        self._credentials = credentials

    @property
    def location(self) -> str:
        return f"projects/{self._project}"

    def _path(self, name: str) -> str:
        if not GCP_SECRET_ID_RE.match(name):
            raise InvalidInput(
                f"{name!r} is not a GCP secret id: 1-255 of letters, digits, '-' and '_'"
            )
        return f"projects/{self._project}/secrets/{name}"

    def put(self, name: str, value: SecretText) -> SecretVersion:
        parent = self._path(name)
        payload = {"data": value.value.get_secret_value().encode()}
        add = "secretmanager.versions.add"

        def add_version() -> Any:
            return self._client.add_secret_version(
                request={"parent": parent, "payload": payload}, timeout=TIMEOUT
            )

        try:
            reply = self._call(add, name, add_version)
        except NotFound:
            self._call(
                "secretmanager.secrets.create",
                name,
                lambda: self._client.create_secret(
                    request={
                        "parent": self.location,
                        "secret_id": name,
                        "secret": {"replication": {"automatic": {}}},
                    },
                    timeout=TIMEOUT,
                ),
            )
            reply = self._call(add, name, add_version)
        return SecretVersion(name=name, version=_last(reply.name), created=_when(reply.create_time))

    def get(self, name: str, version: str | None = None, stage: str | None = None) -> SecretValue:
        if stage:
            raise InvalidInput("GCP Secret Manager has no stages; give a version number")
        version = version or "latest"
        if not GCP_VERSION_RE.match(version):
            raise InvalidInput(f"GCP secret versions are numbers or 'latest', not {version!r}")
        path = f"{self._path(name)}/versions/{version}"
        reply = self._call(
            "secretmanager.versions.access",
            name,
            lambda: self._client.access_secret_version(request={"name": path}, timeout=TIMEOUT),
        )
        try:
            text = bytes(reply.payload.data).decode()
        except UnicodeDecodeError:
            raise InvalidInput(f"secret {name!r} holds binary data, not text") from None
        return SecretValue(name=name, version=_last(reply.name), value=Redacted(text))

    def delete(
        self, name: str, *, force: bool = False, version: str | None = None, recovery_days: int = 30
    ) -> SecretDeletion:
        path = self._path(name)
        if version:
            if not version.isdigit():
                raise InvalidInput(f"give the number of the version to destroy, not {version!r}")
            self._call(
                "secretmanager.versions.destroy",
                name,
                lambda: self._client.destroy_secret_version(
                    request={"name": f"{path}/versions/{version}"}, timeout=TIMEOUT
                ),
            )
            return SecretDeletion(name=name, version=version)
        if not force:
            raise InvalidInput(
                f"secret {name!r}: GCP Secret Manager deletes a secret and all its versions at "
                "once, with no recovery window; pass --force to do it, or --version N to "
                "destroy one version"
            )
        self._call(
            "secretmanager.secrets.delete",
            name,
            lambda: self._client.delete_secret(request={"name": path}, timeout=TIMEOUT),
        )
        return SecretDeletion(name=name)

    def list(self) -> Iterator[SecretSummary]:
        pages = self._call(
            "secretmanager.secrets.list",
            None,
            lambda: self._client.list_secrets(request={"parent": self.location}, timeout=TIMEOUT),
        )
        iterator = iter(pages)
        while True:  # later pages are fetched while iterating: keep mapping their errors
            secret = self._call("secretmanager.secrets.list", None, lambda: next(iterator, None))
            if secret is None:
                return
            yield SecretSummary(name=_last(secret.name), created=_when(secret.create_time))

    def caller_identity(self) -> str:
        email = getattr(self._credentials, "service_account_email", None)
        return str(email) if email else f"unknown ({type(self._credentials).__name__})"

    def _call(self, permission: str, name: str | None, call: Callable[[], Any]) -> Any:
        from google.api_core import exceptions  # noqa: PLC0415 - only GCP users load it

        try:
            return call()
        except exceptions.GoogleAPICallError as exc:
            raise _error(exc, permission, name, self._project) from None
        except exceptions.RetryError as exc:
            raise Unavailable(
                f"GCP Secret Manager did not answer after retries ({type(exc.cause).__name__})",
                Where(operation=permission),
            ) from None


def _error(exc: Any, permission: str, name: str | None, project: str) -> FreightlinerError:
    where = Where(operation=permission)
    target = f"secret {name!r}" if name else "secrets"
    code = int(getattr(exc, "code", 0) or 0)
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
    if code == 400 and "destroyed" in str(getattr(exc, "message", "")).lower():
        return NotFound(f"{target}: that version was destroyed", where)
    return InvalidInput(f"{target}: GCP Secret Manager refused the request (HTTP {code})", where)


def _last(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _when(value: Any) -> Any:
    """proto timestamps arrive as datetimes (proto-plus); an unset one as None."""
    return value if value else None
