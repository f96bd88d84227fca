"""The end of a job, said once: a summary log line, the notifier's event, and the figures the
handler turns into metrics. The state store's conditional close guarantees "once"."""

from __future__ import annotations

import logging

from pydantic import BaseModel

from freightliner.ports.work import JobNotifier, JobRecord

log = logging.getLogger(__name__)


class JobSummary(BaseModel):
    job_id: str
    kind: str
    status: str
    sync: str | None = None
    repositories: int
    repositories_done: int
    repositories_skipped: int
    repositories_failed: int
    images: int
    copied: int
    skipped: int
    failed: int
    bytes: int
    seconds: float | None = None

    @classmethod
    def of(cls, job: JobRecord) -> JobSummary:
        return cls(
            job_id=job.job_id,
            kind=job.kind,
            status=job.status,
            sync=job.detail.get("sync"),
            repositories=job.repositories,
            repositories_done=job.repositories_done,
            repositories_skipped=job.repositories_skipped,
            repositories_failed=job.repositories_failed,
            images=job.total,
            copied=job.done,
            skipped=job.skipped,
            failed=job.failed,
            bytes=job.bytes,
            seconds=round(job.finished_at - job.created_at, 3) if job.finished_at else None,
        )


def announce(job: JobRecord, notifier: JobNotifier | None) -> JobSummary:
    summary = JobSummary.of(job)
    log.info(
        "job %s %s: %d repositories (%d failed), %d images: %d copied, %d present, "
        "%d failed, %d bytes",
        job.job_id,
        job.status,
        job.repositories,
        job.repositories_failed,
        job.total,
        job.done,
        job.skipped,
        job.failed,
        job.bytes,
        extra={"job_summary": summary.model_dump()},
    )
    if notifier is not None:
        notifier.job_finished(job)
    return summary
