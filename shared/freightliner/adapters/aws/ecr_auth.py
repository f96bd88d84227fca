"""ECR registry credentials from `ecr:GetAuthorizationToken`, per registry id (cross-account)
and, where the registries config names one, through an assumed IAM role.

Tokens last 12 hours; each is cached until 15 minutes before it expires, fetched once however
many copies ask at the same time, and refreshed once when the registry answers 401. A token
whose `expiresAt` is already past (moto answers with a date in 2015) is still cached for a
minimum time, so it can never cause a refresh loop.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import aws_error
from freightliner.adapters.aws.sessions import AwsClientSource, with_renewal
from freightliner.domain.errors import InvalidInput, Where
from freightliner.domain.reference import ecr_host
from freightliner.domain.secrets import Redacted
from freightliner.domain.single_flight import SingleFlightCache
from freightliner.ports.credentials import Credential


@dataclass(frozen=True, slots=True)
class EcrTarget:
    """Where a registry host's ECR control plane is, and as whom to call it."""

    registry_id: str
    region: str
    role_arn: str | None = None


def ecr_target(host: str, targets: Mapping[str, EcrTarget]) -> EcrTarget:
    """The target the registries config maps a host to, else the one its name says."""
    if host in targets:
        return targets[host]
    parsed = ecr_host(host)
    if parsed is None:
        raise InvalidInput(
            f"{host} is not an ECR registry host; set auth.registry_id and auth.region "
            "for it in the registries config"
        )
    return EcrTarget(parsed.account, parsed.region)


class EcrCredentialProvider:
    def __init__(
        self,
        clients: AwsClientSource,
        targets: Mapping[str, EcrTarget] | None = None,
        clock: Callable[[], float] = time.time,
        refresh_margin: float = 900.0,
        min_ttl: float = 300.0,
    ) -> None:
        self._clients = clients
        self._targets = dict(targets or {})
        self._clock = clock
        self._margin = refresh_margin
        self._min_ttl = min_ttl
        self._cache: SingleFlightCache[tuple[str, str | None], Credential] = SingleFlightCache(
            clock
        )
        self.api_calls = 0

    def get(self, registry: str) -> Credential | None:
        target = ecr_target(registry, self._targets)
        return self._cache.get(
            (target.registry_id, target.role_arn), lambda: self._fetch(target, registry)
        )

    def invalidate(self, registry: str) -> None:
        target = ecr_target(registry, self._targets)
        self._cache.invalidate((target.registry_id, target.role_arn))

    def _fetch(self, target: EcrTarget, host: str) -> tuple[Credential, float]:
        where = Where(host, operation="ecr:GetAuthorizationToken")
        self.api_calls += 1
        try:
            response = with_renewal(
                self._clients,
                "ecr",
                target.region,
                target.role_arn,
                lambda ecr: ecr.get_authorization_token(registryIds=[target.registry_id]),
            )
        except (ClientError, BotoCoreError) as exc:
            raise aws_error(exc, where) from None
        data = response["authorizationData"][0]
        username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        expires = data.get("expiresAt")
        now = self._clock()
        until = expires.timestamp() - self._margin if expires is not None else now
        return (
            Credential(username=username, password=Redacted(password)),
            max(until, now + self._min_ttl),
        )
