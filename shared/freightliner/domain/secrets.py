"""Secret material and where it lives: the redacting string type, secret values and versions,
and credential references (`aws-sm://`, `gcp-sm://`, `env://`, `file://`).

A reference names a place, never a value, so it may appear in configs, logs and errors; the
value it resolves to is `Redacted` from the moment it is read.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Secret,
    ValidationError,
)

from freightliner.domain.errors import InvalidInput

MAX_SECRET_BYTES = 64 * 1024  # AWS Secrets Manager and GCP Secret Manager both stop here


class Redacted(Secret[str]):
    """A secret string: repr, str and JSON output show `[REDACTED]`; only
    `get_secret_value()` gives the text."""

    def _display(self) -> str:
        return "[REDACTED]"


class StoreKind(StrEnum):
    AWS = "aws"
    GCP = "gcp"


class SecretText(BaseModel):
    """A value on its way into a secret store: UTF-8 text of at most 64 KiB.

    Built with `SecretText.of`, which refuses an oversized value before any store is called.
    """

    model_config = ConfigDict(frozen=True)

    value: Redacted

    @classmethod
    def of(cls, name: str, text: str) -> SecretText:
        size = len(text.encode())
        if size > MAX_SECRET_BYTES:
            raise InvalidInput(
                f"secret {name!r}: the value is {size} bytes; secret stores take at most "
                f"{MAX_SECRET_BYTES} bytes (64 KiB)"
            )
        if size == 0:
            raise InvalidInput(f"secret {name!r}: the value is empty")
        return cls(value=Redacted(text))


class AwsKeys(BaseModel):
    """An AWS access key as a secret holds it: long-lived, or temporary with a session token.

    Unknown fields are refused, so a misspelt `session_token` fails here rather than as an
    authentication failure later.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # IAM's pattern `[\w]+` of 16 to 128 characters; ASCII and the bounds as lengths: a
    # counted Unicode `\w{16,128}` costs pydantic-core's regex engine 0.2 s to compile
    access_key_id: str = Field(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_]+$")
    secret_access_key: Redacted
    session_token: Redacted | None = None

    @classmethod
    def from_json(cls, value: Redacted, origin: str) -> AwsKeys:
        """Parse a secret's JSON; errors name the fields at fault, never a value (pydantic's
        own messages would quote the input)."""
        try:
            return cls.model_validate_json(value.get_secret_value())
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'document'}: {error['msg']}"
                for error in exc.errors(include_url=False, include_input=False)
            )
            raise InvalidInput(
                f"{origin}: not AWS keys JSON ({problems}); expected "
                '{"access_key_id": ..., "secret_access_key": ..., "session_token": optional}'
            ) from None


class SecretVersion(BaseModel):
    """One version of a secret, as a put or get reports it."""

    name: str
    version: str
    stages: list[str] = Field(default_factory=list, description="AWS staging labels")
    created: datetime | None = None


class SecretValue(SecretVersion):
    value: Redacted


class SecretSummary(BaseModel):
    name: str
    created: datetime | None = None
    updated: datetime | None = None
    deletion_date: datetime | None = Field(
        default=None, description="AWS: set while the secret waits out its recovery window"
    )


class SecretDeletion(BaseModel):
    name: str
    version: str | None = Field(default=None, description="GCP: the destroyed version")
    recoverable_until: datetime | None = Field(
        default=None, description="AWS: the end of the recovery window (None: deleted now)"
    )


# -- credential references ------------------------------------------------------------------

AWS_SECRET_NAME_RE = re.compile(r"^[A-Za-z0-9/_+=.@:-]{1,2048}$")
"""An AWS Secrets Manager secret name or ARN."""
_GCP_SECRET_ID = r"[A-Za-z0-9_-]{1,255}"  # noqa: S105 - a pattern, no secret
_GCP_VERSION = r"[0-9]+|latest"
GCP_SECRET_ID_RE = re.compile(rf"^{_GCP_SECRET_ID}$")
"""A GCP Secret Manager secret id."""
GCP_VERSION_RE = re.compile(rf"^(?:{_GCP_VERSION})$")
"""A GCP Secret Manager version: a number or `latest`."""
_GCP_RE = re.compile(
    rf"^projects/(?P<project>[a-z0-9][a-z0-9-]{{0,62}})/secrets/(?P<secret>{_GCP_SECRET_ID})"
    rf"(?:/versions/(?P<version>{_GCP_VERSION}))?$"
)
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ARN_REGION_RE = re.compile(r"^arn:aws[a-z-]*:secretsmanager:(?P<region>[a-z0-9-]+):")


class RefScheme(StrEnum):
    AWS_SM = "aws-sm"
    GCP_SM = "gcp-sm"
    ENV = "env"
    FILE = "file"


class SecretRef(BaseModel):
    """A parsed credential reference; `str()` gives it back as written."""

    model_config = ConfigDict(frozen=True)

    scheme: RefScheme
    name: str = Field(description="AWS: name or ARN; GCP: secret id; env: variable; file: path")
    project: str | None = None
    version: str | None = None
    json_key: str | None = Field(default=None, description="take this key of a JSON value")

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        scheme, sep, rest = text.partition("://")
        if not sep or scheme not in RefScheme.__members__.values():
            raise InvalidInput(
                f"credential reference {text!r}: use aws-sm://NAME[#key], "
                "gcp-sm://projects/P/secrets/S[/versions/V][#key], env://VAR or file://PATH"
            )
        kind = RefScheme(scheme)
        json_key = None
        if kind in (RefScheme.AWS_SM, RefScheme.GCP_SM) and "#" in rest:
            rest, _, json_key = rest.partition("#")
            if not json_key:
                raise InvalidInput(f"credential reference {text!r}: empty key after '#'")
        if kind is RefScheme.AWS_SM:
            if not AWS_SECRET_NAME_RE.match(rest):
                raise InvalidInput(f"credential reference {text!r}: not a secret name or ARN")
            return cls(scheme=kind, name=rest, json_key=json_key)
        if kind is RefScheme.GCP_SM:
            match = _GCP_RE.match(rest)
            if not match:
                raise InvalidInput(
                    f"credential reference {text!r}: expected "
                    "gcp-sm://projects/PROJECT/secrets/SECRET[/versions/VERSION]"
                )
            return cls(
                scheme=kind,
                name=match["secret"],
                project=match["project"],
                version=match["version"],
                json_key=json_key,
            )
        if kind is RefScheme.ENV and not _ENV_RE.match(rest):
            raise InvalidInput(f"credential reference {text!r}: not an environment variable")
        if kind is RefScheme.FILE and not rest:
            raise InvalidInput(f"credential reference {text!r}: no path")
        return cls(scheme=kind, name=rest)

    @property
    def aws_region(self) -> str | None:
        """The region an ARN names; plain names use the caller's region."""
        match = _ARN_REGION_RE.match(self.name)
        return match["region"] if match else None

    def __str__(self) -> str:
        body = self.name
        if self.scheme is RefScheme.GCP_SM:
            body = f"projects/{self.project}/secrets/{self.name}"
            if self.version:
                body += f"/versions/{self.version}"
        key = f"#{self.json_key}" if self.json_key else ""
        return f"{self.scheme}://{body}{key}"


def _coerce_ref(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return SecretRef.parse(value)
    except InvalidInput as exc:  # pydantic reports ValueErrors with the field's location
        raise ValueError(exc.detail) from None


SecretRefField = Annotated[
    SecretRef, BeforeValidator(_coerce_ref), PlainSerializer(str, return_type=str)
]
"""A config field that takes a reference as a string and writes it back as one."""
