"""Tree sync on one machine: enumerate a repository tree, filter, copy with a worker pool.

Repositories stream from the registry's listing (never the whole tree in memory: at most
twice the concurrency are in flight), one failing repository never stops the others, and the
report lists every failure with its reason. Whether an image is copied or skipped is the
same decision the serverless fan-out makes (`tree_listing.decide`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from freightliner.domain.errors import FreightlinerError
from freightliner.domain.metadata import DEFAULT_TTL_SECONDS
from freightliner.domain.reference import Reference
from freightliner.domain.sync import SyncSpec, TaggedImage
from freightliner.domain.work import ItemStatus, WorkItem
from freightliner.engine.copying.copy import Copier
from freightliner.engine.copying.models import CopyOptions, CopyReport
from freightliner.engine.tree.listing import (
    DestinationKnowledge,
    decide,
    destination_knowledge,
    selected_images,
    selected_repositories,
)
from freightliner.ports.checkpoints import CheckpointSink
from freightliner.ports.metadata import MetadataCache
from freightliner.ports.progress import ProgressSink
from freightliner.ports.registry import ClientSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpoint:
    """Resume state: where outcomes go, and the items an earlier run already finished."""

    job_id: str
    sink: CheckpointSink
    finished: frozenset[str] = frozenset()


class TreeProgress(ProgressSink, Protocol):
    """A sync's progress: repositories and images, and (as a ProgressSink the shared copier
    reports to) bytes as they move."""

    def repository_found(self) -> None: ...

    def images_found(self, count: int) -> None:
        """A repository's listing selected `count` images."""
        ...

    def listing_done(self) -> None:
        """Every repository has been found: the image count is final once each is listed."""
        ...

    def repository_done(self) -> None: ...

    def image_done(self, outcome: str, bytes_copied: int) -> None: ...


class Failure(BaseModel):
    repository: str
    tag: str | None
    error: str
    kind: str


class PlannedImage(BaseModel):
    source: str
    destination: str
    action: Literal["copy", "skip"]
    reason: str


class TreeReport(BaseModel):
    sync: str
    job_id: str | None = None
    dry_run: bool = False
    repositories: int = 0
    images: int = 0
    copied: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    layers_compressed: int = 0
    compress_bytes_before: int = 0
    compress_bytes_after: int = 0
    compress_seconds: float = 0.0
    compress_fallbacks: int = Field(default=0, description="images whose destination refused zstd")
    failures: list[Failure] = Field(default_factory=list)
    plan: list[PlannedImage] = Field(default_factory=list)


class _Run:
    def __init__(
        self,
        spec: SyncSpec,
        clients: ClientSource,
        copier: Copier,
        *,
        dry_run: bool,
        progress: TreeProgress | None,
        checkpoint: Checkpoint | None,
        metadata: MetadataCache | None = None,
    ) -> None:
        self.checkpoint = checkpoint
        self.metadata = metadata
        self.spec = spec
        self.clients = clients
        self.copier = copier
        self.dry_run = dry_run
        self.progress = progress
        self.report = TreeReport(
            sync=spec.name, dry_run=dry_run, job_id=checkpoint.job_id if checkpoint else None
        )
        self.lock = threading.Lock()
        self.repositories_done = 0
        self.enumerated = False

    def repository_finished(self, slots: threading.BoundedSemaphore) -> None:
        slots.release()
        with self.lock:
            self.repositories_done += 1
        if self.progress:
            self.progress.repository_done()
        self.save_progress()

    def save_progress(self) -> None:
        """Repositories found and finished, in the checkpoint, for `jobs status`."""
        if self.checkpoint is None or self.dry_run:
            return
        with self.lock:
            found, done = self.report.repositories, self.repositories_done
        self.checkpoint.sink.progress(self.checkpoint.job_id, found, done, self.enumerated)

    def repositories(self) -> Iterator[str]:
        return selected_repositories(self.spec, self.clients)

    def sync_repository(self, repository: str) -> None:
        try:
            images = selected_images(self.spec, self.clients, repository)
        except FreightlinerError as exc:
            self._fail(repository, None, str(exc), exc.kind)
            return
        if self.progress:
            self.progress.images_found(len(images))
        target = self.spec.destination_repository(repository)
        try:
            ttl = self.copier.options.metadata_ttl
            known = (
                destination_knowledge(self.spec, self.clients, target, self.metadata, ttl)
                if images
                else None
            )
        except FreightlinerError as exc:
            self._fail(repository, None, str(exc), exc.kind)
            return
        for image in images:
            src = Reference(self.spec.source.registry, repository, image.tag)
            dst = Reference(self.spec.destination.registry, target, image.tag)
            try:
                self._sync_image(repository, src, dst, image, known)
            except FreightlinerError as exc:
                self._fail(repository, image.tag, str(exc), exc.kind)
            except Exception as exc:  # a bug must not stop the other repositories
                self._fail(repository, image.tag, f"{type(exc).__name__}: {exc}", "unexpected")

    def _sync_image(
        self,
        repository: str,
        src: Reference,
        dst: Reference,
        image: TaggedImage,
        known: DestinationKnowledge | None = None,
    ) -> None:
        # The digest is read before copying only where it decides something: a tag missing
        # at the destination is copied at once (and cannot have finished in an earlier run).
        decision = decide(self.spec, self.clients, src, dst, image, need_digest=False, known=known)
        item_id: str | None = None
        if self.checkpoint is not None and decision.digest is not None:
            item_id = _item_id(self.checkpoint.job_id, src, dst, decision.digest)
            if item_id in self.checkpoint.finished:
                self._count("skip", 0, src, dst, "finished in an earlier run")
                return
        if decision.action == "skip":
            self._count("skip", 0, src, dst, decision.reason)
            self._record(repository, src, dst, item_id, ItemStatus.SKIPPED)
            return
        try:
            copied = self.copier.copy(
                src,
                dst,
                dest_missing=decision.dest_missing,
                empty_repository=known is not None and known.empty,
            )
        except FreightlinerError as exc:
            if item_id is None and self.checkpoint is not None:
                digest = self._source_digest(src)
                item_id = _item_id(self.checkpoint.job_id, src, dst, digest) if digest else None
            self._record(repository, src, dst, item_id, ItemStatus.FAILED, error=str(exc))
            raise
        if item_id is None and self.checkpoint is not None:
            item_id = _item_id(self.checkpoint.job_id, src, dst, copied.source_digest)
        outcome = "skip" if copied.status == "up-to-date" else "copy"
        reason = (
            "same digest at destination"
            if outcome == "skip"
            else (f"{copied.blobs_copied} blobs, {copied.bytes_copied} bytes to copy")
        )
        self._count(outcome, copied.bytes_copied, src, dst, reason)
        if copied.compress_bytes_before:
            self._count_compression(copied)
        status = ItemStatus.SKIPPED if outcome == "skip" else ItemStatus.DONE
        self._record(repository, src, dst, item_id, status, size=copied.bytes_copied)

    def _source_digest(self, src: Reference) -> str | None:
        """For recording a failure under the item's identity; None when even that fails."""
        try:
            head = self.clients.client(src.registry).head_manifest(src.repository, src.identifier)
        except FreightlinerError:
            return None
        return str(head.digest) if head else None

    def _count(self, outcome: str, size: int, src: Reference, dst: Reference, reason: str) -> None:
        with self.lock:
            self.report.images += 1
            if outcome == "skip":
                self.report.skipped += 1
            else:
                self.report.copied += 1
                self.report.bytes += size
            if self.dry_run:
                self.report.plan.append(
                    PlannedImage(
                        source=str(src),
                        destination=str(dst),
                        action="skip" if outcome == "skip" else "copy",
                        reason=reason,
                    )
                )
        if self.progress:
            self.progress.image_done("skipped" if outcome == "skip" else "copied", size)

    def _count_compression(self, copied: CopyReport) -> None:
        with self.lock:
            report = self.report
            report.layers_compressed += copied.layers_compressed
            report.compress_bytes_before += copied.compress_bytes_before
            report.compress_bytes_after += copied.compress_bytes_after
            report.compress_seconds = round(report.compress_seconds + copied.compress_seconds, 3)
            report.compress_fallbacks += int(copied.compress_fallback)

    def _record(
        self,
        repository: str,
        src: Reference,
        dst: Reference,
        item_id: str | None,
        status: ItemStatus,
        *,
        size: int = 0,
        error: str | None = None,
    ) -> None:
        if self.checkpoint is None or self.dry_run or item_id is None:
            return
        self.checkpoint.sink.record(
            self.checkpoint.job_id,
            item_id,
            repository=repository,
            source=str(src),
            destination=str(dst),
            status=status,
            bytes_copied=size,
            error=error,
        )

    def _fail(self, repository: str, tag: str | None, error: str, kind: str) -> None:
        log.error(  # one filterable line per failure (`--log-format json`, the shipped stream)
            "sync failed: %s",
            kind,
            extra={
                "outcome": "failed",
                "error_kind": kind,
                "error": error,
                "repository": repository,
                "tag": tag or "",
            },
        )
        with self.lock:
            self.report.failed += 1
            self.report.images += tag is not None
            self.report.failures.append(
                Failure(repository=repository, tag=tag, error=error, kind=kind)
            )
        if self.progress:
            self.progress.image_done("failed", 0)


def run_sync(
    spec: SyncSpec,
    clients: ClientSource,
    *,
    dry_run: bool = False,
    progress: TreeProgress | None = None,
    checkpoint: Checkpoint | None = None,
    metadata: MetadataCache | None = None,
    verify: bool = False,
    metadata_ttl: float = DEFAULT_TTL_SECONDS,
) -> TreeReport:
    """Run one sync. `metadata` remembers verified destination tags and blob locations
    between runs; `verify` trusts neither it nor a present tag: every blob is checked."""
    if verify:
        spec = spec.verifying()
    options = CopyOptions(
        platforms=spec.platforms,
        referrers=spec.referrers,
        force=spec.force,
        verify=not spec.skip_existing,
        jobs=spec.concurrency,
        dry_run=dry_run,
        metadata_ttl=metadata_ttl,
        compress=spec.compress,
    )
    with Copier(clients, options, progress, metadata=metadata) as copier:
        run = _Run(
            spec,
            clients,
            copier,
            dry_run=dry_run,
            progress=progress,
            checkpoint=checkpoint,
            metadata=metadata,
        )
        slots = threading.BoundedSemaphore(spec.concurrency * 2)
        with ThreadPoolExecutor(spec.concurrency, thread_name_prefix="repo") as pool:
            for repository in run.repositories():
                slots.acquire()
                with run.lock:
                    run.report.repositories += 1
                if progress:
                    progress.repository_found()
                future: Future[None] = pool.submit(run.sync_repository, repository)
                future.add_done_callback(lambda _f: run.repository_finished(slots))
            run.enumerated = True
            if progress:
                progress.listing_done()
    run.save_progress()
    run.report.plan.sort(key=lambda p: p.source)
    run.report.failures.sort(key=lambda f: (f.repository, f.tag or ""))
    return run.report


def _item_id(job_id: str, src: Reference, dst: Reference, digest: str) -> str:
    item = WorkItem(
        job_id=job_id, source=f"{src.name}@{digest}", destination=str(dst), source_digest=digest
    )
    return item.item_id
