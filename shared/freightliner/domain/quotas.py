"""How fast a registry host may be asked: request rates and concurrency per host and per
operation class, and the defaults for ECR, Artifact Registry and Docker Hub taken from the
quotas they publish.

A figure here is the whole fleet's budget (every process that talks to the host): the
registry client divides it by the fleet size (`registry.pacing.fleet_share`).
"""

from __future__ import annotations

import math
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from freightliner.domain.reference import ecr_host, gar_host


class OperationClass(StrEnum):
    """What a request does, as registries meter it."""

    READ = "read"  # HEAD manifest, HEAD/GET blob, tag and catalog listings, referrers
    MANIFEST_PULL = "manifest-pull"  # GET manifest: what Docker Hub counts as a pull
    BLOB_UPLOAD = "blob-upload"  # POST/PATCH/PUT of a blob upload, mounts
    MANIFEST_WRITE = "manifest-write"  # PUT or DELETE of a manifest


class PaceScope(StrEnum):
    """A budget a request draws on: every request draws on `all`, uploads and manifest
    writes on `write` as well, and each on its own class's."""

    ALL = "all"
    WRITE = "write"
    READ = OperationClass.READ.value
    MANIFEST_PULL = OperationClass.MANIFEST_PULL.value
    BLOB_UPLOAD = OperationClass.BLOB_UPLOAD.value
    MANIFEST_WRITE = OperationClass.MANIFEST_WRITE.value


def scopes_of(operation: OperationClass) -> tuple[PaceScope, ...]:
    """The budgets one request of `operation` draws on."""
    own = PaceScope(operation.value)
    if operation in (OperationClass.BLOB_UPLOAD, OperationClass.MANIFEST_WRITE):
        return (PaceScope.ALL, PaceScope.WRITE, own)
    return (PaceScope.ALL, own)


class Pace(BaseModel):
    """One budget. Unset fields do not limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float | None = Field(
        default=None, gt=0, description="requests per second, the whole fleet together"
    )
    burst: int | None = Field(
        default=None,
        ge=1,
        description="requests that may go at once after a quiet spell (default: one "
        "second's worth of `rate`, at least 1)",
    )
    concurrency: int | None = Field(
        default=None, ge=1, description="requests in flight at once, the whole fleet together"
    )

    def burst_size(self) -> int:
        if self.burst is not None:
            return self.burst
        return max(1, math.floor(self.rate or 1))


Pacing = dict[PaceScope, Pace]

# Amazon ECR, per account and Region (what one registry host is), from "Amazon ECR service
# quotas", https://docs.aws.amazon.com/AmazonECR/latest/userguide/service-quotas.html :
# "Rate of BatchCheckLayerAvailability requests: 1,000 per second", "BatchGetImage: 2,000",
# "GetDownloadUrlForLayer: 3,000", "InitiateLayerUpload: 100", "UploadLayerPart: 500",
# "CompleteLayerUpload: 100", "PutImage: 10" (all adjustable). The registry API maps onto
# them: HEAD blob -> BatchCheckLayerAvailability, GET/HEAD manifest -> BatchGetImage, GET
# blob -> GetDownloadUrlForLayer, POST upload -> InitiateLayerUpload, PATCH ->
# UploadLayerPart, PUT upload -> CompleteLayerUpload, PUT manifest -> PutImage. A class takes
# the smallest quota among its calls.
ECR_PACING: Pacing = {
    PaceScope.READ: Pace(rate=1000),
    PaceScope.MANIFEST_PULL: Pace(rate=2000),
    PaceScope.BLOB_UPLOAD: Pace(rate=100),
    PaceScope.MANIFEST_WRITE: Pace(rate=10),
}

# Artifact Registry, per project and region, from "Quotas and limits",
# https://cloud.google.com/artifact-registry/quotas : "Requests per minute in each region or
# multi-region: 60,000", "Write requests per minute ...: 18,000" ("a Docker pull or push
# usually makes multiple HTTP requests, so each request is charged"), deletes 18,000/min.
GAR_PACING: Pacing = {
    PaceScope.ALL: Pace(rate=60_000 / 60),
    PaceScope.WRITE: Pace(rate=18_000 / 60),
}

# Docker Hub, from "Docker Hub usage and limits", https://docs.docker.com/docker-hub/usage/
# and https://docs.docker.com/docker-hub/usage/pulls/ : "Personal (authenticated): 100" pulls
# per hour, "Unauthenticated users: 10 per IPv4 address or IPv6 /64 subnet"; paid plans have
# no pull rate limit. A pull is a GET of a manifest (HEAD is free). A bucket of burst b and
# rate r admits b + r*T requests in T seconds, so 10 + 90/h keeps any hour within 100 (set
# `manifest-pull: {rate: 0.0028, burst: 1}` for anonymous pulls, or lift it on a paid plan).
DOCKER_HUB_PACING: Pacing = {
    PaceScope.MANIFEST_PULL: Pace(rate=90 / 3600, burst=10),
}
DOCKER_HUB_HOSTS = frozenset({"docker.io", "registry-1.docker.io", "index.docker.io"})


def default_pacing(host: str) -> Pacing:
    """The published quotas of the registry behind `host`; no limit for other registries."""
    if ecr_host(host):
        return dict(ECR_PACING)
    if gar_host(host):
        return dict(GAR_PACING)
    if host in DOCKER_HUB_HOSTS:
        return dict(DOCKER_HUB_PACING)
    return {}
