"""boto3 clients per (service, region, role), built on first use and cached.

Credentials come from the default chain, or from a `CredentialSource` (keys in a secret, a
web identity role: what a function outside AWS uses). botocore asks for credentials at every
signature, and every client of a source asks the source, so when AWS refuses a key
(`UnrecognizedClientException`, `InvalidClientTokenId`, an expired token) the source forgets
it and the call is signed again once with what the source gives next: a rotated key is picked
up by every client at once, without a redeploy.

A registry may name an IAM role (`role_arn`): its clients sign with credentials from STS
AssumeRole, held in botocore's refreshable credentials, which renew them ahead of expiry under
a lock, so one session serves every call until it nears its end. When AWS still answers
`ExpiredTokenException` (a session revoked or a clock skewed), `with_renewal` drops the client
and its session and repeats the call once with fresh ones.

Every client retries under botocore's `standard` retry mode (exponential backoff with full
jitter, throttling and transient errors classified apart, a retry quota so an outage is not
hammered) or, when FREIGHTLINER_AWS_RETRY_MODE says so, `adaptive` (standard plus a
client-side rate limiter that slows down after throttling): the one retry policy's rules
(`domain.retry`) as the SDK implements them, instead of botocore's legacy default.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal, Protocol, TypeVar

from botocore.config import Config
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.exceptions import ClientError

from freightliner.adapters.aws.errors import error_code

T = TypeVar("T")
ROLE_SESSION_NAME = "freightliner"
_EXPIRED = {"ExpiredTokenException", "ExpiredToken", "RequestExpired"}
_REFUSED = _EXPIRED | {"UnrecognizedClientException", "InvalidClientTokenId"}
_SIGNED_AGAIN = "freightliner_signed_again"  # marks a request already retried after a refusal
RetryMode = Literal["standard", "adaptive"]


class CredentialSource(Protocol):
    def credentials(self) -> Credentials:
        """What to sign the next request with (may read a secret or call STS)."""
        ...

    def forget(self) -> None:
        """AWS refused what `credentials` gave: the next call gets fresh ones."""
        ...


class _FromSource(Credentials):
    """Credentials whose values live in a source: botocore reads them through
    `get_frozen_credentials` at every signature (the only accessor its signers use)."""

    def __init__(self, source: CredentialSource) -> None:  # no values to hold: no super()
        self._source = source
        self.method = "freightliner-credential-source"

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        return self._source.credentials().get_frozen_credentials()


def _session_with(credentials: Credentials) -> Any:
    """A boto3 session that signs with `credentials` before trying the default chain."""
    import boto3  # noqa: PLC0415 - deferred: no boto3 work at import time
    import botocore.session  # noqa: PLC0415
    from botocore.credentials import CredentialProvider  # noqa: PLC0415

    class Given(CredentialProvider):
        METHOD = credentials.method

        def load(self) -> Credentials:
            return credentials

    core = botocore.session.Session()
    core.get_component("credential_provider").insert_before("env", Given())
    return boto3.Session(botocore_session=core)


def expiring(credentials: dict[str, Any]) -> dict[str, str]:
    """An STS reply's `Credentials` in the shape botocore's refreshable credentials take."""
    return {
        "access_key": credentials["AccessKeyId"],
        "secret_key": credentials["SecretAccessKey"],
        "token": credentials["SessionToken"],
        "expiry_time": credentials["Expiration"].isoformat(),
    }


class AwsClientSource(Protocol):
    def client(self, service: str, region: str, role_arn: str | None = None) -> Any: ...

    def renew(self, service: str, region: str, role_arn: str | None = None) -> None:
        """Forget the client (and its role session) after AWS said its credentials expired."""
        ...


def credentials_expired(exc: ClientError) -> bool:
    return error_code(exc) in _EXPIRED


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
    """The process's boto3 clients; the composition root owns one.

    One boto3 session (botocore's data and the credential chain read once) serves every client
    and resource not tied to a role; boto3 sessions are not thread-safe, so clients are built
    under a lock (re-entrant: a role session asks for its STS client)."""

    def __init__(
        self, credentials: CredentialSource | None = None, retry_mode: RetryMode = "standard"
    ) -> None:
        self._source = credentials
        self._config = Config(retries={"mode": retry_mode})
        self._lock = threading.RLock()
        self._base: Any = None
        self._clients: dict[tuple[str, str, str | None], Any] = {}
        self._sessions: dict[tuple[str, str], Any] = {}
        self.assume_role_calls = 0

    def client(self, service: str, region: str, role_arn: str | None = None) -> Any:
        key = (service, region, role_arn)
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                session = self._role_session(role_arn, region) if role_arn else self._session()
                found = self._clients[key] = session.client(
                    service, region_name=region, config=self._config
                )
            return found

    def resource(self, service: str, region: str) -> Any:
        """A boto3 resource (DynamoDB's `Table`) signed like the clients."""
        with self._lock:
            return self._session().resource(service, region_name=region, config=self._config)

    def _session(self) -> Any:
        """The shared session, built on first use (the caller holds the lock)."""
        if self._base is None:
            if self._source is None:
                import boto3  # noqa: PLC0415 - deferred: no boto3 work at import time

                self._base = boto3.Session()
            else:
                self._base = _session_with(_FromSource(self._source))
                self._base.events.register("needs-retry", self._sign_again_after_refusal)
        return self._base

    def _sign_again_after_refusal(
        self, response: tuple[Any, dict[str, Any]] | None, request_dict: dict[str, Any], **_: Any
    ) -> float | None:
        """botocore's retry hook: a refused key makes the source forget it and the request is
        signed and sent again, once (botocore re-signs every attempt)."""
        if response is None or self._source is None:
            return None
        code = response[1].get("Error", {}).get("Code", "")
        context = request_dict["context"]
        if code not in _REFUSED or context.get(_SIGNED_AGAIN):
            return None
        context[_SIGNED_AGAIN] = True
        self._source.forget()
        return 0.0

    def renew(self, service: str, region: str, role_arn: str | None = None) -> None:
        with self._lock:
            self._clients.pop((service, region, role_arn), None)
            if role_arn:
                self._sessions.pop((role_arn, region), None)
            else:
                self._base = None  # the next client walks the credential chain again

    def _role_session(self, role_arn: str, region: str) -> Any:
        """The session of a role in a region, cached (the caller holds the lock)."""
        found = self._sessions.get((role_arn, region))
        if found is not None:
            return found
        from botocore.credentials import DeferredRefreshableCredentials  # noqa: PLC0415

        sts = self.client("sts", region)

        def assume() -> dict[str, str]:
            self.assume_role_calls += 1
            reply = sts.assume_role(RoleArn=role_arn, RoleSessionName=ROLE_SESSION_NAME)
            return expiring(reply["Credentials"])

        session = _session_with(
            DeferredRefreshableCredentials(refresh_using=assume, method="freightliner-assume-role")
        )
        self._sessions[(role_arn, region)] = session
        return session
