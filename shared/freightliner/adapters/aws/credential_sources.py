"""AWS credentials for code that runs outside AWS (the GCP Cloud Function), as
`CredentialSource`s for `AwsClients`: long-lived keys kept in a secret store, or, better, an
IAM role assumed with a web identity token (on GCP: a Google-signed ID token), no key at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.credentials import Credentials, DeferredRefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import aws_error
from freightliner.adapters.aws.sessions import ROLE_SESSION_NAME, expiring
from freightliner.adapters.credential_refs import ReferenceResolver
from freightliner.domain.errors import Where
from freightliner.domain.secrets import AwsKeys, Redacted, SecretRef


class ReferencedKeys:
    """Keys from a credential reference holding AWS keys JSON. The resolver caches the value
    for its TTL; `forget` (AWS refused the key) makes the next signature read it again."""

    def __init__(self, resolver: ReferenceResolver, ref: SecretRef) -> None:
        self._resolver = resolver
        self._ref = ref
        self._lock = threading.Lock()
        self._parsed: tuple[Redacted, Credentials] | None = None

    def credentials(self) -> Credentials:
        value = self._resolver.resolve(self._ref)
        with self._lock:
            if self._parsed is None or self._parsed[0] is not value:  # a new read
                keys = AwsKeys.from_json(value, str(self._ref))
                token = keys.session_token
                self._parsed = (
                    value,
                    Credentials(
                        keys.access_key_id,
                        keys.secret_access_key.get_secret_value(),
                        token.get_secret_value() if token else None,
                        method="freightliner-credential-reference",
                    ),
                )
            return self._parsed[1]

    def forget(self) -> None:
        self._resolver.invalidate(self._ref)


class WebIdentityRole:
    """An IAM role assumed with `AssumeRoleWithWebIdentity` and a token from `token`.

    The session lives in botocore's refreshable credentials: one STS call for as long as it
    lasts, renewed ahead of its expiry under botocore's lock, with a fresh token each time.
    STS is called unsigned: there are no credentials yet. `forget` starts a new session.
    """

    def __init__(self, role_arn: str, region: str, token: Callable[[], Redacted]) -> None:
        self._role_arn = role_arn
        self._region = region
        self._token = token
        self._lock = threading.Lock()
        self._session: DeferredRefreshableCredentials | None = None
        self._sts: Any = None
        self.assume_calls = 0

    def credentials(self) -> Credentials:
        with self._lock:
            if self._session is None:
                self._session = DeferredRefreshableCredentials(
                    refresh_using=self._assume, method="freightliner-web-identity"
                )
            return self._session

    def forget(self) -> None:
        with self._lock:
            self._session = None

    def _assume(self) -> dict[str, str]:
        token = self._token()
        self.assume_calls += 1
        try:
            reply = self._client().assume_role_with_web_identity(
                RoleArn=self._role_arn,
                RoleSessionName=ROLE_SESSION_NAME,
                WebIdentityToken=token.get_secret_value(),
            )
        except (ClientError, BotoCoreError) as exc:
            where = Where(operation=f"sts:AssumeRoleWithWebIdentity {self._role_arn}")
            raise aws_error(exc, where) from None
        return expiring(reply["Credentials"])

    def _client(self) -> Any:
        if self._sts is None:
            import boto3  # noqa: PLC0415 - deferred: no boto3 work at import time
            from botocore import UNSIGNED  # noqa: PLC0415
            from botocore.config import Config  # noqa: PLC0415

            self._sts = boto3.Session().client(
                "sts", region_name=self._region, config=Config(signature_version=UNSIGNED)
            )
        return self._sts
