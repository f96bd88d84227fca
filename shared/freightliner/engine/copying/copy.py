"""`copy_image`: the one copy path for every pair of registries.

Digest first (HEAD the destination and skip what is already there), blobs before manifests,
children before their index, so a destination never holds a manifest whose content is
missing. Blobs stream from source to destination through a digest verifier; a mismatch aborts
the image before any manifest is written.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from freightliner.domain import mediatypes as mt
from freightliner.domain.digest import Digest
from freightliner.domain.errors import DigestMismatch, NotFound, TagConflict, Where
from freightliner.domain.manifest import Descriptor, parse_manifest
from freightliner.domain.metadata import companion_subject
from freightliner.domain.platform import Platform
from freightliner.domain.reference import Reference
from freightliner.domain.uploads import UploadPaused
from freightliner.engine.copying.compressing import Compressor
from freightliner.engine.copying.models import CopyOptions, CopyReport
from freightliner.engine.copying.resumable import Resumable, upload_resumable
from freightliner.ports.metadata import MetadataCache
from freightliner.ports.progress import NullProgress, ProgressSink
from freightliner.ports.registry import (
    ClientSource,
    FetchedManifest,
    ManifestHead,
    Registry,
    fallback_tag,
)

log = logging.getLogger(__name__)


class BlobLocations:
    """Remembers which repository of a registry holds a blob, so later copies can mount it;
    with a metadata cache, later runs too (a stale entry costs a refused mount, then the
    upload it would have been anyway)."""

    def __init__(self, cache: MetadataCache | None = None) -> None:
        self._lock = threading.Lock()
        self._where: dict[tuple[str, str], str] = {}
        self._cache = cache

    def remember(self, host: str, digest: Digest, repository: str) -> None:
        with self._lock:
            known = self._where.get((host, str(digest))) == repository
            self._where[(host, str(digest))] = repository
        if self._cache is not None and not known:
            self._cache.remember_blobs(host, repository, [str(digest)])

    def lookup(self, host: str, digest: Digest) -> str | None:
        with self._lock:
            found = self._where.get((host, str(digest)))
        if found is None and self._cache is not None:
            found = self._cache.blob_holder(host, str(digest))
        return found


class _Stats:
    """Thread-safe counters named after the CopyReport fields they fill."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        assert name in CopyReport.model_fields, name
        with self._lock:
            self.counts[name] += amount


@dataclass(frozen=True)
class _Route:
    """Where one copy reads from and writes to."""

    source: Registry
    src_repo: str
    dest: Registry
    dst_repo: str
    empty: bool = False  # the destination repository had no tag: no blob there to HEAD for


@dataclass
class _Plan:
    """Post-order list of manifests to push (children first) and the blobs they need."""

    manifests: list[FetchedManifest] = field(default_factory=list)
    blobs: dict[str, Descriptor] = field(default_factory=dict)


class Copier:
    """Copies images between registries; one instance may serve many copies concurrently."""

    def __init__(
        self,
        clients: ClientSource,
        options: CopyOptions | None = None,
        progress: ProgressSink | None = None,
        *,
        locations: BlobLocations | None = None,
        resumable: Resumable | None = None,
        metadata: MetadataCache | None = None,
    ) -> None:
        self.clients = clients
        self.options = options or CopyOptions()
        self.progress = progress or NullProgress()
        self.locations = locations or BlobLocations(metadata)
        self.metadata = metadata
        self.resumable = resumable
        self._blob_pool = ThreadPoolExecutor(self.options.jobs, thread_name_prefix="blob")
        compress = self.options.compress
        self._compressor = Compressor(self, compress) if compress is not None else None

    def close(self) -> None:
        self._blob_pool.shutdown(wait=True, cancel_futures=True)
        if self._compressor is not None:
            self._compressor.close()

    def __enter__(self) -> Copier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public -------------------------------------------------------------------------

    def copy_many(self, pairs: Iterable[tuple[Reference, Reference]]) -> list[CopyReport]:
        """Copy several images with at most `jobs` in flight; first failure is raised after
        the others finish."""
        with ThreadPoolExecutor(self.options.jobs, thread_name_prefix="image") as pool:
            futures = [pool.submit(self.copy, src, dst) for src, dst in pairs]
        return [future.result() for future in futures]

    def copy(
        self,
        src: Reference,
        dst: Reference,
        *,
        dest_missing: bool = False,
        empty_repository: bool = False,
    ) -> CopyReport:
        """Copy one image. `dest_missing`: the caller has just seen the destination tag absent
        (a tree sync's HEAD), so the copier does not ask again; `empty_repository`: nor has
        the repository any tag, so a blob this run did not put there is not HEAD-checked."""
        started = time.monotonic()
        stats = _Stats()
        source = self.clients.client(src.registry)
        dest = self.clients.client(dst.registry)
        route = _Route(source, src.repository, dest, dst.repository, empty_repository)
        top = source.get_manifest(src.repository, src.identifier)
        if src.digest is not None and top.digest != src.digest:
            raise NotFound(f"registry served {top.digest.short} for a pinned digest", _where(src))
        pushed = self._apply_platforms(top, src)
        dest_tag = dst.tag if dst.tag is not None else (src.tag if dst.digest is None else None)
        if dst.digest is not None and dst.digest != pushed.digest:
            raise TagConflict(
                f"destination pins {dst.digest.short} but the copy has digest "
                f"{pushed.digest.short}",
                _where(dst),
            )
        report = CopyReport(
            source=str(src),
            destination=str(dst),
            status="copied",
            media_type=pushed.media_type,
            source_digest=str(top.digest),
            digest=str(pushed.digest),
            digest_changed=pushed.digest != top.digest,
            platforms=self.options.platforms,
        )
        immutable = False
        if not self.options.dry_run:
            immutable = (
                self.clients.repository_admin(dst.registry)
                .ensure_repository(dst.registry, dst.repository)
                .tags_immutable
            )
        current = (
            None
            if dest_missing and not self.options.dry_run
            else self._verified(dst, dest_tag, pushed)
            or dest.head_manifest(dst.repository, dest_tag or str(pushed.digest))
        )
        compressor = None if self.options.dry_run else self._compressor
        if current is not None and current.digest == pushed.digest and not self.options.force:
            report.status = "up-to-date"
            stats.add("manifests_skipped")
            if self.options.verify:
                self._repair(route, pushed, stats)
        elif (
            compressor is not None
            and current is not None
            and not self.options.force
            and compressor.holds(route, current, pushed.digest)
        ):
            report.status = "up-to-date"  # a transcoded copy of this very image
            report.digest, report.digest_changed = str(current.digest), True
            report.media_type = current.media_type
            stats.add("manifests_skipped")
        else:
            if current is not None and current.digest != pushed.digest and dest_tag and immutable:
                raise TagConflict(
                    f"tag {dest_tag} is immutable and already points at {current.digest.short}"
                    f", not {pushed.digest.short}; refusing to overwrite",
                    _where(dst, "PUT manifest"),
                )
            if compressor is not None:
                result = compressor.transfer(route, pushed, dest_tag, stats)
                report.digest = str(result.top.digest)
                report.digest_changed = result.top.digest != top.digest
                report.media_type = result.top.media_type
                report.compress_fallback = result.fallback
                report.compress_seconds = round(result.seconds, 3)
            else:
                self._transfer(route, pushed, dest_tag, stats)
            if self.options.dry_run:
                report.status = "planned"
        self._after_image(route, dst, dest_tag, pushed, Digest.parse(report.digest), stats)
        report = report.model_copy(update=dict(stats.counts))
        report.seconds = round(time.monotonic() - started, 3)
        log.info(
            "copied %s -> %s digest %s (%d blobs, %d bytes)",
            src.display,
            dst.display,
            pushed.digest.short,
            stats.counts["blobs_copied"],
            stats.counts["bytes_copied"],
        )
        return report

    def _verified(
        self, dst: Reference, tag: str | None, pushed: FetchedManifest
    ) -> ManifestHead | None:
        """The destination tag as the metadata cache saw it verified within the TTL (no
        request); None to ask the registry (no cache, `verify`/`force`, unknown, other)."""
        if self.metadata is None or tag is None or self.options.verify or self.options.force:
            return None
        if self.options.compress is not None:  # the destination holds another digest
            return None
        seen = self.metadata.verified(dst.registry, dst.repository, tag, self.options.metadata_ttl)
        if seen != str(pushed.digest):
            return None
        return ManifestHead(pushed.digest, pushed.media_type, len(pushed.data))

    # -- platforms ----------------------------------------------------------------------

    def _apply_platforms(self, top: FetchedManifest, src: Reference) -> FetchedManifest:
        wanted = self.options.parsed_platforms()
        if not wanted or not top.manifest.is_index:
            return top
        raw = json.loads(top.data)
        kept = [
            entry
            for entry, desc in zip(raw["manifests"], top.manifest.manifests, strict=True)
            if desc.platform is not None
            and any(
                p.matches(desc.platform.os, desc.platform.architecture, desc.platform.variant)
                for p in wanted
            )
        ]
        if not kept:
            available = ", ".join(
                str(Platform(d.platform.os, d.platform.architecture, d.platform.variant))
                for d in top.manifest.manifests
                if d.platform is not None
            )
            raise NotFound(
                f"no manifest for {', '.join(map(str, wanted))} in the index "
                f"(available: {available or 'none'})",
                _where(src, "filter platforms"),
            )
        if len(kept) == len(raw["manifests"]):
            return top
        raw["manifests"] = kept
        data = json.dumps(raw, separators=(",", ":")).encode()
        manifest = parse_manifest(data, top.media_type)
        return FetchedManifest(data, Digest.of(data), top.media_type, manifest)

    # -- the transfer -------------------------------------------------------------------

    def _transfer(
        self,
        route: _Route,
        top: FetchedManifest,
        tag: str | None,
        stats: _Stats,
    ) -> bool:
        """Copy one manifest tree; returns whether the destination accepted `subject`."""
        plan = _Plan()
        self._plan(route, top, plan, stats, is_top=True)
        self._planned(plan)
        self._copy_blobs(route, list(plan.blobs.values()), stats)
        if self.options.dry_run:
            stats.add("manifests_pushed", len(plan.manifests))
            return False
        accepted = False
        for fetched in plan.manifests:
            reference = tag if fetched is top and tag else str(fetched.digest)
            pushed = route.dest.put_manifest(
                route.dst_repo, reference, fetched.data, fetched.media_type
            )
            accepted = pushed.subject_accepted
            stats.add("manifests_pushed")
        return accepted

    def _repair(self, route: _Route, top: FetchedManifest, stats: _Stats) -> None:
        """The destination has the image's manifest: check every blob of the whole tree and
        upload the missing ones, then put back any child manifest that is missing."""
        plan = _Plan()
        self._plan(route, top, plan, stats, is_top=True, descend_present=True)
        self._planned(plan)
        self._copy_blobs(route, list(plan.blobs.values()), stats)
        for fetched in plan.manifests:
            if fetched is top or self.options.dry_run:
                continue
            if route.dest.head_manifest(route.dst_repo, str(fetched.digest)) is None:
                route.dest.put_manifest(
                    route.dst_repo, str(fetched.digest), fetched.data, fetched.media_type
                )
                stats.add("manifests_pushed")

    def _planned(self, plan: _Plan) -> None:
        blobs = plan.blobs.values()
        self.progress.blobs_planned(len(blobs), sum(blob.size for blob in blobs))

    def _plan(
        self,
        route: _Route,
        fetched: FetchedManifest,
        plan: _Plan,
        stats: _Stats,
        is_top: bool,
        *,
        descend_present: bool = False,
    ) -> None:
        if (
            not is_top
            and not (self.options.force or descend_present)
            and route.dest.head_manifest(route.dst_repo, str(fetched.digest)) is not None
        ):
            stats.add("manifests_skipped")
            return
        if fetched.manifest.is_index:
            for child in fetched.manifest.manifests:
                if any(m.digest == child.parsed_digest for m in plan.manifests):
                    continue
                if child.media_type not in mt.MANIFEST_TYPES:
                    plan.blobs.setdefault(child.digest, child)  # an artifact blob in an index
                    continue
                child_manifest = route.source.get_manifest(route.src_repo, child.digest)
                self._plan(
                    route, child_manifest, plan, stats, False, descend_present=descend_present
                )
        else:
            for blob in fetched.manifest.blobs():
                plan.blobs.setdefault(blob.digest, blob)
        plan.manifests.append(fetched)

    def _copy_blobs(
        self,
        route: _Route,
        blobs: list[Descriptor],
        stats: _Stats,
    ) -> None:
        futures: list[Future[None]] = [
            self._blob_pool.submit(self._copy_blob, route, blob, stats) for blob in blobs
        ]
        _done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        wait(pending)
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]

    def _mount_or_session(
        self, route: _Route, blob: Descriptor, stats: _Stats
    ) -> _Avoided | str | None:
        """Avoid uploading what the destination registry has (PRESENT in this repository,
        MOUNTED from another); else None, or the upload session a refused mount opened.

        A blob this run (or, with a metadata cache, an earlier one) put in another repository
        of the registry is mounted at once (one request, no HEAD); otherwise a HEAD, then a
        mount where one may work."""
        digest = blob.parsed_digest
        if self.options.force:  # force re-uploads: nothing present or mounted repairs anything
            return None
        mount_from = self.locations.lookup(route.dest.host, digest)
        known_elsewhere = mount_from not in (None, route.dst_repo) and not self.options.dry_run
        # in a repository that had no tag, a blob this run did not put there is uploaded at once
        unseen = route.empty and mount_from is None and not self.options.dry_run
        if not known_elsewhere and not unseen:
            if route.dest.head_blob(route.dst_repo, digest) is not None:
                self.locations.remember(route.dest.host, digest, route.dst_repo)
                stats.add("blobs_skipped")
                self.progress.blob_done(str(digest), blob.size, "skipped")
                return _Avoided.PRESENT
            if self.options.dry_run:
                return None
        if (
            mount_from is None
            and route.source.host == route.dest.host
            and route.src_repo != route.dst_repo
        ):
            mount_from = route.src_repo
        if not mount_from or mount_from == route.dst_repo:
            return None
        location = route.dest.mount_blob(route.dst_repo, digest, mount_from)
        if location is None:
            self.locations.remember(route.dest.host, digest, route.dst_repo)
            stats.add("blobs_mounted")
            self.progress.blob_done(str(digest), blob.size, "mounted")
            return _Avoided.MOUNTED
        return location  # not mounted: upload through the session the registry opened

    def _copy_blob(
        self,
        route: _Route,
        blob: Descriptor,
        stats: _Stats,
    ) -> None:
        digest = blob.parsed_digest
        if self.resumable is not None and self.resumable.stop():
            raise UploadPaused  # the deadline is near: leave this blob to the next invocation
        if blob.urls:
            log.info("skipping foreign layer %s (served from its own URLs)", digest.short)
            stats.add("blobs_skipped")
            self.progress.blob_done(str(digest), blob.size, "skipped")
            return
        avoided = self._mount_or_session(route, blob, stats)
        if isinstance(avoided, _Avoided):
            return
        location = avoided
        if self.options.dry_run:
            stats.add("blobs_copied")
            stats.add("bytes_copied", blob.size)
            return

        self.progress.blob_started(str(digest), blob.size)
        moved = [0]

        def on_bytes(count: int) -> None:
            moved[0] += count
            self.progress.bytes_moved(count)

        def source() -> AbstractContextManager[Iterator[bytes]]:
            return route.source.open_blob(route.src_repo, digest)

        resumable = self.resumable
        if resumable is not None and not resumable.applies(blob.size):
            resumable = None

        def attempt() -> None:
            nonlocal location
            if moved[0] and resumable is None:  # sent again from byte 0: count them once
                self.progress.bytes_moved(-moved[0])
                moved[0] = 0
            try:
                if resumable is not None:
                    upload_resumable(
                        route.dest,
                        route.dst_repo,
                        digest,
                        blob.size,
                        source,
                        resumable=resumable,
                        location=location,
                        on_bytes=on_bytes,
                    )
                    return
                route.dest.upload_blob(
                    route.dst_repo,
                    digest,
                    blob.size,
                    source,
                    location=location,
                    on_bytes=on_bytes,
                )
            finally:
                location = None  # a failed upload session is not reused

        try:
            route.dest.retrying(attempt)
        except DigestMismatch as exc:
            # Bytes corrupted on the way are retried like a reset, once: content that is
            # wrong at its source stays wrong, and that is a digest mismatch (exit 5).
            log.warning("blob %s arrived corrupted (%s); transferring it again", digest.short, exc)
            route.dest.retrying(attempt)
        self.locations.remember(route.dest.host, digest, route.dst_repo)
        stats.add("blobs_copied")
        stats.add("bytes_copied", moved[0])
        self.progress.blob_done(str(digest), blob.size, "copied")

    # -- referrers ----------------------------------------------------------------------

    def _copy_referrers(
        self,
        route: _Route,
        top: FetchedManifest,
        stats: _Stats,
    ) -> None:
        subjects = [top.digest]
        if top.manifest.is_index:
            subjects += [c.parsed_digest for c in top.manifest.manifests]
        seen: set[Digest] = set(subjects)
        while subjects:
            subject = subjects.pop()
            found, via_api = route.source.referrers(route.src_repo, subject)
            if not found:
                continue
            accepted = True
            for desc in found:
                referrer = route.source.get_manifest(route.src_repo, desc.digest)
                if route.dest.head_manifest(route.dst_repo, desc.digest) is None:
                    if not self.options.dry_run:
                        accepted = self._transfer(route, referrer, None, stats) and accepted
                    stats.add("referrers_copied")
                else:
                    accepted = False  # unknown: check the destination's referrers below
                if referrer.digest not in seen:
                    seen.add(referrer.digest)
                    subjects.append(referrer.digest)
            if not accepted and not self.options.dry_run:
                self._update_fallback(route, subject, found, via_api)

    def _copy_companions(self, route: _Route, top: FetchedManifest, stats: _Stats) -> None:
        """Cosign-style companion tags (`sha256-<hex>.sig`, `.att`, `.sbom`, any
        `sha256-<hex>.*`) of the image, its children, and of those companions in turn, copied
        byte for byte under the same tag (their digests unchanged)."""
        by_subject: dict[str, list[str]] = {}
        for tag in route.source.list_tags(route.src_repo):
            subject = companion_subject(tag)
            if subject is not None:
                by_subject.setdefault(subject, []).append(tag)
        if not by_subject:
            return
        subjects = [top.digest]
        if top.manifest.is_index:
            subjects += [c.parsed_digest for c in top.manifest.manifests]
        seen: set[Digest] = set(subjects)
        while subjects:
            for tag in sorted(by_subject.get(str(subjects.pop()), [])):
                companion = route.source.get_manifest(route.src_repo, tag)
                present = route.dest.head_manifest(route.dst_repo, tag)
                if present is None or present.digest != companion.digest:
                    if not self.options.dry_run:
                        self._transfer(route, companion, tag, stats)
                    stats.add("referrers_copied")
                if companion.digest not in seen:
                    seen.add(companion.digest)
                    subjects.append(companion.digest)

    def _after_image(  # noqa: PLR0917 - the copy's own parts
        self,
        route: _Route,
        dst: Reference,
        dest_tag: str | None,
        pushed: FetchedManifest,
        written: Digest,
        stats: _Stats,
    ) -> None:
        """The image is at the destination: remember it verified, then its referrers and
        companion tags (not attached when compression wrote another digest)."""
        if (
            self.metadata is not None
            and dest_tag
            and not self.options.dry_run
            and written == pushed.digest
        ):
            self.metadata.mark_verified(dst.registry, dst.repository, dest_tag, str(pushed.digest))
        if not self.options.referrers:
            return
        if written != pushed.digest:
            self._skip_referrers(route, pushed, written, stats)
            return
        self._copy_referrers(route, pushed, stats)
        self._copy_companions(route, pushed, stats)

    def _skip_referrers(
        self, route: _Route, pushed: FetchedManifest, written: Digest, stats: _Stats
    ) -> None:
        """Referrers name their subject by digest: a signature of the source image does not
        sign the transcoded one, so none is attached to it. They are counted and named."""
        found, _via_api = route.source.referrers(route.src_repo, pushed.digest)
        if found:
            stats.add("referrers_skipped", len(found))
            log.warning(
                "%d referrer(s) of %s not copied: compression wrote %s, which they do not "
                "describe (copy without --compress to keep them)",
                len(found),
                pushed.digest.short,
                written.short,
            )

    def _update_fallback(
        self,
        route: _Route,
        subject: Digest,
        found: list[Descriptor],
        source_via_api: bool,
    ) -> None:
        """Keep the destination's `sha256-<hex>` referrers tag listing every referrer."""
        existing, dest_via_api = route.dest.referrers(route.dst_repo, subject)
        if dest_via_api:
            return
        known = {d.digest for d in existing}
        missing = [d for d in found if d.digest not in known]
        if not missing:
            return
        tag = fallback_tag(subject)
        if not existing and not source_via_api:
            original = route.source.referrers_tag(route.src_repo, subject)
            if original is not None:
                route.dest.put_manifest(route.dst_repo, tag, original.data, original.media_type)
                return
        current = route.dest.referrers_tag(route.dst_repo, subject)
        empty = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
        raw: dict[str, Any] = json.loads(current.data) if current else empty
        raw["manifests"] = list(raw.get("manifests", [])) + [
            d.model_dump(by_alias=True, exclude_none=True) for d in missing
        ]
        data = json.dumps(raw, separators=(",", ":")).encode()
        route.dest.put_manifest(route.dst_repo, tag, data, mt.OCI_INDEX)


class _Avoided(Enum):
    """Why `_mount_or_session` found no upload needed."""

    PRESENT = "present"
    MOUNTED = "mounted"


def _where(ref: Reference, operation: str = "copy") -> Where:
    return Where(ref.registry, ref.repository, ref.identifier, operation)
