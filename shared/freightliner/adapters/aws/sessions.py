"""boto3 clients per (service, region, role), built on first use and cached.

A registry may name an IAM role (`role_arn`): its clients sign with credentials from STS
AssumeRole, held in botocore's refreshable credentials, which renew them ahead of expiry under
a lock, so one session serves every call until it nears its end. When AWS still answers
`ExpiredTokenException` (a session revoked or a clock skewed), `with_renewal` drops the client
and its session and repeats the call once with fresh ones.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")
ROLE_SESSION_NAME = "freightliner"
_EXPIRED = {"ExpiredTokenException", "ExpiredToken", "RequestExpired"}


class AwsClientSource(Protocol):
    def client(self, service: str, region: str, role_arn: str | None = None) -> Any: ...

    def renew(self, service: str, region: str, role_arn: str | None = None) -> None:
        """Forget the client (and its role session) after AWS said its credentials expired."""
        ...


def credentials_expired(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code", "") in _EXPIRED


def with_renewal(
    clients: AwsClientSource,
    service: str,
    region: str,
    role_arn: str | None,
    call: Callable[[Any], T],
) -> T:
    """`call(client)`, repeated once with renewed credentials if they had expired."""
    try:
        return call(clients.client(service, region, role_arn))
    except ClientError as exc:
        if not credentials_expired(exc):
            raise
    clients.renew(service, region, role_arn)
    return call(clients.client(service, region, role_arn))


class AwsClients:
    """The process's boto3 clients; the composition root owns one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str, str | None], Any] = {}
        self._sessions: dict[tuple[str, str], Any] = {}
        self.assume_role_calls = 0

    def client(self, service: str, region: str, role_arn: str | None = None) -> Any:
        key = (service, region, role_arn)
        with self._lock:
            found = self._clients.get(key)
        if found is not None:
            return found
        import boto3  # noqa: PLC0415 - deferred: no boto3 work at import time

        session = self._role_session(role_arn, region) if role_arn else boto3.Session()
        built = session.client(service, region_name=region)  # type: ignore[call-overload]
        with self._lock:
            return self._clients.setdefault(key, built)

    def renew(self, service: str, region: str, role_arn: str | None = None) -> None:
        with self._lock:
            self._clients.pop((service, region, role_arn), None)
            if role_arn:
                self._sessions.pop((role_arn, region), None)

    def _role_session(self, role_arn: str, region: str) -> Any:
        with self._lock:
            found = self._sessions.get((role_arn, region))
        if found is not None:
            return found
        import boto3  # noqa: PLC0415
        import botocore.session  # noqa: PLC0415
        from botocore.credentials import (  # noqa: PLC0415
            CredentialProvider,
            DeferredRefreshableCredentials,
        )

        sts = self.client("sts", region)

        def assume() -> dict[str, str]:
            self.assume_role_calls += 1
            reply = sts.assume_role(RoleArn=role_arn, RoleSessionName=ROLE_SESSION_NAME)
            creds = reply["Credentials"]
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": creds["Expiration"].isoformat(),
            }

        class AssumedRole(CredentialProvider):
            METHOD = "freightliner-assume-role"

            def load(self) -> DeferredRefreshableCredentials:
                return DeferredRefreshableCredentials(refresh_using=assume, method=self.METHOD)

        core = botocore.session.Session()
        core.get_component("credential_provider").insert_before("env", AssumedRole())
        session = boto3.Session(botocore_session=core)
        with self._lock:
            return self._sessions.setdefault((role_arn, region), session)
