"""AWS Secrets Manager as a `SecretStore` (boto3).

Deletion keeps the recovery window unless forced. Failures name the secret and the IAM action
the caller needs; the AWS error text is never used, so a value cannot slip into a message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import DENIED_CODES, aws_error, error_code
from freightliner.domain.errors import (
    Forbidden,
    FreightlinerError,
    InvalidInput,
    NotFound,
    Where,
)
from freightliner.domain.secrets import (
    AWS_SECRET_NAME_RE,
    Redacted,
    SecretDeletion,
    SecretSummary,
    SecretText,
    SecretValue,
    SecretVersion,
    StoreKind,
)

_MARKED_DELETED = re.compile(r"marked (for )?delet")  # AWS: "marked for deletion"


class AwsSecretStore:
    kind = StoreKind.AWS

    def __init__(self, client: Any, region: str, sts: Callable[[], Any]) -> None:
        self._client = client
        self._region = region
        self._sts = sts

    @property
    def location(self) -> str:
        return self._region

    def put(self, name: str, value: SecretText) -> SecretVersion:
        _check_name(name)
        text = value.value.get_secret_value()
        try:
            reply = self._call(
                "PutSecretValue",
                name,
                lambda: self._client.put_secret_value(SecretId=name, SecretString=text),
            )
            return SecretVersion(
                name=reply["Name"], version=reply["VersionId"], stages=reply["VersionStages"]
            )
        except NotFound:
            pass
        reply = self._call(
            "CreateSecret", name, lambda: self._client.create_secret(Name=name, SecretString=text)
        )
        return SecretVersion(name=reply["Name"], version=reply["VersionId"], stages=["AWSCURRENT"])

    def get(self, name: str, version: str | None = None, stage: str | None = None) -> SecretValue:
        _check_name(name)
        if version and stage:
            raise InvalidInput(f"secret {name!r}: give a version or a stage, not both")
        selector = {"VersionId": version} if version else {"VersionStage": stage or "AWSCURRENT"}
        reply = self._call(
            "GetSecretValue",
            name,
            lambda: self._client.get_secret_value(SecretId=name, **selector),
        )
        text = reply.get("SecretString")
        if text is None:
            try:
                text = bytes(reply["SecretBinary"]).decode()
            except UnicodeDecodeError:
                raise InvalidInput(f"secret {name!r} holds binary data, not text") from None
        return SecretValue(
            name=reply["Name"],
            version=reply["VersionId"],
            stages=reply.get("VersionStages", []),
            created=reply.get("CreatedDate"),
            value=Redacted(text),
        )

    def delete(
        self, name: str, *, force: bool = False, version: str | None = None, recovery_days: int = 30
    ) -> SecretDeletion:
        _check_name(name)
        if version:
            raise InvalidInput(
                "AWS Secrets Manager deletes whole secrets; a version cannot be deleted alone"
            )
        if not 7 <= recovery_days <= 30:
            raise InvalidInput("the recovery window is 7 to 30 days")
        options: dict[str, Any] = (
            {"ForceDeleteWithoutRecovery": True}
            if force
            else {"RecoveryWindowInDays": recovery_days}
        )
        reply = self._call(
            "DeleteSecret", name, lambda: self._client.delete_secret(SecretId=name, **options)
        )
        return SecretDeletion(
            name=reply["Name"], recoverable_until=None if force else reply.get("DeletionDate")
        )

    def list(self) -> Iterator[SecretSummary]:
        try:
            for page in self._client.get_paginator("list_secrets").paginate(
                IncludePlannedDeletion=True
            ):
                for entry in page.get("SecretList", []):
                    yield SecretSummary(
                        name=entry["Name"],
                        created=entry.get("CreatedDate"),
                        updated=entry.get("LastChangedDate"),
                        deletion_date=entry.get("DeletedDate"),
                    )
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "ListSecrets", None, self._region) from None

    def caller_identity(self) -> str:
        try:
            return str(self._sts().get_caller_identity()["Arn"])
        except (ClientError, BotoCoreError) as exc:
            return f"unknown ({type(exc).__name__} from sts:GetCallerIdentity)"

    def _call(self, action: str, name: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, action, name, self._region) from None


def _check_name(name: str) -> None:
    if not AWS_SECRET_NAME_RE.match(name):
        raise InvalidInput(
            f"{name!r} is not an AWS secret name: 1-2048 of letters, digits and /_+=.@:- "
        )


def _error(exc: Exception, action: str, name: str | None, region: str) -> FreightlinerError:
    permission = f"secretsmanager:{action}"
    where = Where(operation=permission)
    target = f"secret {name!r}" if name else "secrets"
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if code == "ResourceNotFoundException":
            return NotFound(f"{target} not found in AWS Secrets Manager ({region})", where)
        if code in DENIED_CODES:
            return Forbidden(
                f"{target} ({region}): access denied; the caller needs the IAM permission "
                f"{permission}",
                where,
            )
        if code == "InvalidRequestException" and _MARKED_DELETED.search(message):
            return InvalidInput(
                f"{target} is scheduled for deletion; restore it first "
                "(aws secretsmanager restore-secret)",
                where,
            )
        if code == "ResourceExistsException":
            return InvalidInput(f"{target} already exists", where)
    return aws_error(exc, Where(repository=name or "", operation=permission))
