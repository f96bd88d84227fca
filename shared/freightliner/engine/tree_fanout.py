"""Tree sync through the queue: one item per repository, expanded by the worker into one
item per image that needs copying.

A tree job stays ENUMERATING while its repositories are enqueued page by page, so it cannot
complete before every repository is counted; a repository item adds its images to the job's
total before it finishes itself, so the total never falls behind the work.
"""

from __future__ import annotations

import time
import uuid

from freightliner.domain.errors import InvalidInput, NotFound, Where
from freightliner.domain.reference import Reference
from freightliner.domain.sync import SyncSpec
from freightliner.domain.work import ItemStatus, WorkItem
from freightliner.engine.copy import ClientSource
from freightliner.engine.tree import selected_repositories
from freightliner.ports.work import JobRecord, StateStore, WorkQueue

PAGE = 100


def start_tree(
    spec: SyncSpec, clients: ClientSource, *, queue: WorkQueue, state: StateStore
) -> str:
    job_id = f"tree-{spec.name}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    state.create_job(
        JobRecord(
            job_id=job_id,
            kind="tree",
            status="ENUMERATING",
            created_at=time.time(),
            detail={"sync": spec.name, "definition": spec.model_dump_json()},
        ),
        [],
    )
    page: list[WorkItem] = []
    for repository in selected_repositories(spec, clients):
        page.append(
            WorkItem(
                action="repository",
                job_id=job_id,
                correlation_id=job_id,
                source_digest="",
                source=f"{spec.source.registry}/{repository}",
                destination=f"{spec.destination.registry}/{spec.destination_repository(repository)}",
            )
        )
        if len(page) == PAGE:
            _enqueue(job_id, page, queue, state)
            page = []
    if page:
        _enqueue(job_id, page, queue, state)
    state.mark_enqueued(job_id)
    return job_id


def _enqueue(job_id: str, items: list[WorkItem], queue: WorkQueue, state: StateStore) -> None:
    state.add_items(job_id, items)
    queue.send(items)


def expand_repository(
    item: WorkItem, clients: ClientSource, *, queue: WorkQueue, state: StateStore
) -> int:
    """List, filter and HEAD-check a repository's tags; enqueue the images to copy. Returns
    how many were enqueued; images already present count as skipped at once."""
    job = state.get_job(item.job_id)
    if job is None or "definition" not in job.detail:
        raise InvalidInput(f"tree job {item.job_id} is unknown or has no sync definition")
    spec = SyncSpec.model_validate_json(job.detail["definition"])
    source = Reference.parse(item.source)
    target = Reference.parse(item.destination)
    source_client = clients.client(source.registry)
    dest_client = clients.client(target.registry)
    copies: list[WorkItem] = []
    skipped = 0
    for tag in spec.select_tags(list(source_client.list_tags(source.repository))):
        head = source_client.head_manifest(source.repository, tag)
        if head is None:
            raise NotFound(
                "tag vanished while the repository was expanded",
                Where(source.registry, source.repository, tag, "expand repository"),
            )
        present = dest_client.head_manifest(target.repository, tag)
        if present is not None and present.digest == head.digest and not spec.platforms:
            skipped += 1
            continue
        copies.append(
            WorkItem(
                job_id=item.job_id,
                correlation_id=item.correlation_id,
                source=f"{source.name}@{head.digest}",
                destination=f"{target.name}:{tag}",
                source_digest=str(head.digest),
                platforms=spec.platforms,
                referrers=spec.referrers,
                rule=spec.name,
            )
        )
    state.add_items(item.job_id, copies, skipped)
    if copies:
        queue.send(copies)
    state.finish(item, ItemStatus.DONE)
    return len(copies)
