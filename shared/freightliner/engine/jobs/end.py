"""The end of a job, said once and the same way whoever closed it (the worker, the tree
fan-out, the intake, a resume, the scan gate): its summary log line, then every notifier
(the job-finished event, the job metrics). The job store's conditional close guarantees
"once"."""

from __future__ import annotations

import logging

from freightliner.domain.jobs import JobRecord, JobSummary
from freightliner.ports.work import JobNotifier

log = logging.getLogger(__name__)


class JobNotifiers:
    """Several notifiers told in turn, each on its own terms (they never raise)."""

    def __init__(self, *notifiers: JobNotifier) -> None:
        self._notifiers = notifiers

    def job_finished(self, job: JobRecord) -> None:
        for notifier in self._notifiers:
            notifier.job_finished(job)


def announce(job: JobRecord, notifier: JobNotifier | None) -> JobSummary:
    summary = JobSummary.of(job)
    log.info(summary.line(), extra={"job_summary": summary.model_dump(mode="json")})
    if notifier is not None:
        notifier.job_finished(job)
    return summary


def announce_if_closed(closed: JobRecord | None, notifier: JobNotifier | None) -> JobSummary | None:
    return announce(closed, notifier) if closed is not None else None
