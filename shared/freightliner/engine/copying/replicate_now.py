"""The console's "Test" box: copy one image synchronously and return what happened (and
say it in the audit trail: a copy a person asked for)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from freightliner.domain.compression import Compression
from freightliner.domain.errors import FreightlinerError
from freightliner.domain.reference import Reference
from freightliner.engine.audit import AuditEvent, AuditTrigger, emit
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
    audit = AuditEvent(
        audit="copy",
        trigger=AuditTrigger(job_kind="replicate-now"),
        source=str(source),
        destination=str(destination),
        outcome="done",
    )
    try:
        with Copier(clients, options) as copier:
            report = copier.copy(source, destination)
    except FreightlinerError as exc:
        emit(audit.model_copy(update={"outcome": "failed", "detail": {"error_kind": exc.kind}}))
        raise
    outcome = "skipped" if report.status == "up-to-date" else "done"
    emit(audit.model_copy(update={"outcome": outcome, "digest": report.digest.split(":")[-1][:12]}))
    return report
