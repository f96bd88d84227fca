"""Resuming a queued job: send every unfinished item again (FAILED ones too when asked).

A tree job interrupted while it enumerated first finishes enumerating (repositories it had
recorded are not recorded twice). Items stream from the state store page by page and go out
in batches, so the first batch leaves within a page's read whatever the job's size. Finished
items are never sent; an item that finishes while it is being re-sent is recognised by its
state when it arrives and does nothing.
"""

from __future__ import annotations

import time

from pydantic import BaseModel

from freightliner.domain.errors import NotFound, Where
from freightliner.domain.jobs import JobStatus, JobSummary
from freightliner.domain.work import WorkItem
from freightliner.engine.jobs.end import announce_if_closed
from freightliner.engine.tree.fanout import start_tree, tree_spec
from freightliner.ports.registry import ClientSource
from freightliner.ports.work import JobNotifier, StateStore, WorkQueue

BATCH = 100


class ResumeReport(BaseModel):
    job_id: str
    resent: int
    reenumerated: bool
    seconds_to_first_send: float | None
    seconds: float
    closed: JobSummary | None = None


def resume_job(
    job_id: str,
    clients: ClientSource,
    *,
    queue: WorkQueue,
    state: StateStore,
    retry_failed: bool = False,
    notifier: JobNotifier | None = None,
) -> ResumeReport:
    started = time.perf_counter()
    job = state.get_job(job_id)
    if job is None:
        raise NotFound(f"no job {job_id} in the state table", Where(operation="resume job"))
    first: float | None = None
    resent = 0
    batch: list[WorkItem] = []

    def flush() -> None:
        nonlocal first, resent, batch
        if batch:
            queue.send(batch)
            resent += len(batch)
            first = first if first is not None else time.perf_counter() - started
            batch = []

    for item in state.reopen(job_id, retry_failed):
        batch.append(item)
        if len(batch) == BATCH:
            flush()
    flush()
    reenumerated = job.kind == "tree" and job.status is JobStatus.ENUMERATING
    if reenumerated:
        _, summary = start_tree(
            tree_spec(state, job_id),
            clients,
            queue=queue,
            state=state,
            notifier=notifier,
            job_id=job_id,
        )
    else:
        # closes a job whose last items just finished
        summary = announce_if_closed(state.mark_enqueued(job_id), notifier)
    return ResumeReport(
        job_id=job_id,
        resent=resent,
        reenumerated=reenumerated,
        seconds_to_first_send=round(first, 3) if first is not None else None,
        seconds=round(time.perf_counter() - started, 3),
        closed=summary,
    )
