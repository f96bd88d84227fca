"""Tree sync through the queue: one item per repository, expanded by the worker into one
item per image that needs copying.

A tree job stays ENUMERATING while its repositories are enqueued page by page, so it cannot
complete before every repository is counted; a repository item records its images before it
finishes itself, so the job's image total never falls behind the work. A repository with
more than `TAGS_PER_PAGE` selected tags is expanded a page per invocation: each page hands
the rest to a continuation item, so no invocation runs unbounded.
"""

from __future__ import annotations

import time
import uuid

from freightliner.domain.errors import InvalidInput
from freightliner.domain.jobs import JobRecord, JobStatus, JobSummary
from freightliner.domain.metadata import DEFAULT_TTL_SECONDS
from freightliner.domain.reference import Reference
from freightliner.domain.sync import SyncSpec
from freightliner.domain.work import ItemStatus, RepositoryPage, WorkItem
from freightliner.engine.jobs.authorization import TREE_DEFINITION
from freightliner.engine.jobs.end import announce_if_closed
from freightliner.engine.tree.listing import (
    decide,
    destination_knowledge,
    selected_images,
    selected_repositories,
)
from freightliner.ports.metadata import MetadataCache
from freightliner.ports.registry import ClientSource
from freightliner.ports.work import JobNotifier, StateStore, WorkQueue

REPOSITORIES_PER_BATCH = 100
TAGS_PER_PAGE = 200


def start_tree(
    spec: SyncSpec,
    clients: ClientSource,
    *,
    queue: WorkQueue,
    state: StateStore,
    notifier: JobNotifier | None = None,
    job_id: str | None = None,
    verify: bool = False,
) -> tuple[str, JobSummary | None]:
    """Create the job (or, given `job_id`, finish enumerating an interrupted one) and enqueue
    one item per selected repository. Returns the job id, and the job's summary if it ended
    already (an empty tree), announced like any job's end. `verify` runs the sync as
    `freightliner sync --verify` does (the job keeps that definition)."""
    if verify:
        spec = spec.verifying()
    if job_id is None:
        job_id = f"tree-{spec.name}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        state.create_job(
            JobRecord(
                job_id=job_id,
                kind="tree",
                status=JobStatus.ENUMERATING,
                created_at=time.time(),
                detail={"sync": spec.name, TREE_DEFINITION: spec.model_dump_json()},
            ),
            [],
        )
    batch: list[WorkItem] = []
    for repository in selected_repositories(spec, clients):
        batch.append(
            WorkItem(
                action="repository",
                job_id=job_id,
                correlation_id=job_id,
                source_digest="",
                source=f"{spec.source.registry}/{repository}",
                destination=f"{spec.destination.registry}/{spec.destination_repository(repository)}",
            )
        )
        if len(batch) == REPOSITORIES_PER_BATCH:
            _record_and_send(job_id, batch, queue, state)
            batch = []
    _record_and_send(job_id, batch, queue, state)
    closed = state.mark_enqueued(job_id)
    return job_id, announce_if_closed(closed, notifier)


def _record_and_send(
    job_id: str, items: list[WorkItem], queue: WorkQueue, state: StateStore
) -> None:
    new = state.add_items(job_id, items)  # items recorded by an interrupted run are not re-sent
    if new:
        queue.send(new)


def tree_spec(state: StateStore, job_id: str) -> SyncSpec:
    job = state.get_job(job_id)
    if job is None or TREE_DEFINITION not in job.detail:
        raise InvalidInput(f"tree job {job_id} is unknown or has no sync definition")
    return SyncSpec.model_validate_json(job.detail[TREE_DEFINITION])


def expand_repository(
    item: WorkItem,
    clients: ClientSource,
    *,
    queue: WorkQueue,
    state: StateStore,
    metadata: MetadataCache | None = None,
    metadata_ttl: float = DEFAULT_TTL_SECONDS,
) -> JobRecord | None:
    """List and filter a repository's tags, decide each image, enqueue the copies.

    Images already present count as skipped at once. What `decide` knows of the destination
    is what `freightliner sync` knows: its listing (ECR, GAR), else the tags `metadata` saw
    verified within `metadata_ttl` seconds, else its tags list and HEADs. Returns the job if
    this closed it.
    """
    spec = tree_spec(state, item.job_id)
    source = Reference.parse(item.source)
    target = Reference.parse(item.destination)
    images = selected_images(spec, clients, source.repository)
    after = item.page.after if item.page else None
    pending = [image for image in images if after is None or image.tag > after]
    page, rest = pending[:TAGS_PER_PAGE], pending[TAGS_PER_PAGE:]
    copies: list[WorkItem] = []
    known = (
        destination_knowledge(spec, clients, target.repository, metadata, metadata_ttl)
        if page
        else None
    )
    for image in page:
        src = Reference(source.registry, source.repository, image.tag)
        dst = Reference(target.registry, target.repository, image.tag)
        decision = decide(spec, clients, src, dst, image, known=known)
        if decision.action == "skip":
            continue
        digest = decision.pinned()
        copies.append(
            WorkItem(
                job_id=item.job_id,
                correlation_id=item.correlation_id,
                source=f"{source.name}@{digest}",
                destination=str(dst),
                source_digest=digest,
                platforms=spec.platforms,
                referrers=spec.referrers,
                force=spec.force,
                verify=not spec.skip_existing,
                compress=spec.compress,
                rule=spec.name,
            )
        )
    enqueued = (item.page.enqueued if item.page else 0) + len(copies)
    follow = (
        [item.model_copy(update={"page": RepositoryPage(after=page[-1].tag, enqueued=enqueued)})]
        if rest
        else []
    )
    # Recorded before the repository item finishes: the job cannot complete under them. A
    # redelivery records nothing twice and sends everything again (finished images are
    # recognised by their state and do nothing).
    state.add_items(item.job_id, [*copies, *follow])
    if copies or follow:
        queue.send([*copies, *follow])
    status = ItemStatus.DONE if enqueued or rest else ItemStatus.SKIPPED
    return state.finish(item, status, images_skipped=len(page) - len(copies), continued=bool(rest))
