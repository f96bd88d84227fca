"""The console's "Test" box: copy one image synchronously and return what happened."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from freightliner.domain.compression import Compression
from freightliner.domain.reference import Reference
from freightliner.engine.copying.copy import Copier
from freightliner.engine.copying.models import CopyOptions, CopyReport
from freightliner.ports.registry import ClientSource


class ReplicateNowRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    destination: str
    platforms: list[str] = Field(default_factory=list)
    referrers: bool = False
    compress: Compression | None = None


def replicate_now(request: ReplicateNowRequest, clients: ClientSource, jobs: int) -> CopyReport:
    source = Reference.parse(request.source)
    destination = Reference.parse(request.destination)
    options = CopyOptions(
        platforms=request.platforms,
        referrers=request.referrers,
        jobs=jobs,
        compress=request.compress,
    )
    with Copier(clients, options) as copier:
        return copier.copy(source, destination)
