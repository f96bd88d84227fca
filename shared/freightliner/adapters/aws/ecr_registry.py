"""Which ECR registry (account id and region) a registry host stands for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from freightliner.domain.errors import InvalidInput
from freightliner.domain.reference import ecr_host

EcrClientFactory = Callable[[str], Any]
"""region → a boto3 ECR client (built by the composition root)."""

EcrTargets = Mapping[str, tuple[str, str]]
"""Hosts that are not ECR-shaped but stand for an ECR registry (a local one, say)."""


def ecr_registry(host: str, targets: EcrTargets) -> tuple[str, str]:
    """(registry id, region) for a host: ECR-shaped, or mapped by the registries config."""
    if host in targets:
        return targets[host]
    parsed = ecr_host(host)
    if parsed is None:
        raise InvalidInput(
            f"{host} is not an ECR registry host; set auth.registry_id and auth.region "
            "for it in the registries config"
        )
    return parsed.account, parsed.region
