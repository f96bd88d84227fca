"""A copy that transcodes gzip and plain-tar layers to zstd on the way (`--compress`).

Walk the source tree (manifests and configs, nothing large), transcode every eligible layer
in the copier's blob pool, copy the other blobs as usual, then push rewritten manifests
children first. Each layer is transcoded once to learn its size and digest before anything
is uploaded: into a spool file bounded in memory when the layer is small enough, otherwise
measured and discarded, then transcoded again straight into the upload (zstd is
deterministic; the upload verifies the digest the first pass measured). Memory stays flat
either way; disk holds at most `SPOOL_LIMIT` per layer in flight.

A layer zstd does not shrink by the configured share is kept as it is. When the destination
refuses the rewritten manifest (400/415: it does not take zstd layers), the original image
is copied instead and still lands.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import zstandard

from freightliner.domain import mediatypes as mt
from freightliner.domain.compression import (
    TRANSCODABLE,
    Compression,
    compressed_from,
    rewrite_image,
    rewrite_index,
)
from freightliner.domain.digest import Digest
from freightliner.domain.errors import InvalidInput, Unsupported, Where
from freightliner.domain.manifest import Descriptor, parse_manifest
from freightliner.engine.copying.transcode import measure, transcoded
from freightliner.ports.registry import FetchedManifest, ManifestHead

if TYPE_CHECKING:
    from freightliner.engine.copying.copy import Copier, _Route
    from freightliner.engine.copying.copy import _Stats as _Counts

log = logging.getLogger(__name__)

SPOOL_LIMIT = 32 * 1024 * 1024
"""Layers up to this size are transcoded once into a spool file; larger ones twice."""

SPOOL_MEMORY = 4 * 1024 * 1024
"""A spool file stays in memory up to this size, then moves to the temporary directory."""

TRANSCODE_BUDGET = 112 * 1024 * 1024
"""Memory the layer transcodes in flight may take together, so a copy stays under 200 MB."""

TRANSCODE_OVERHEAD = 16 * 1024 * 1024
"""Measured beside the zstd context, per transcode: its stream buffers, the gunzip pieces,
the upload's buffers (bench/compression_memory.py: ~28 MB per level-9 transcode)."""

_READ = 1024 * 1024


class _Spool(Protocol):
    def write(self, data: bytes, /) -> int: ...

    def read(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, /) -> int: ...

    def truncate(self) -> int: ...


@dataclass(frozen=True, slots=True)
class _Layer:
    descriptor: Descriptor
    diff_id: Digest

    @property
    def gzipped(self) -> bool:
        return TRANSCODABLE[self.descriptor.media_type]


@dataclass
class _Node:
    """One manifest of the tree, with the positions of its layers to transcode."""

    fetched: FetchedManifest
    layers: dict[int, _Layer] = field(default_factory=dict)


@dataclass
class _Tree:
    nodes: list[_Node] = field(default_factory=list)  # post-order: children first
    originals: dict[str, Descriptor] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)


@dataclass
class CompressionResult:
    """What transcoding one image did, for its report."""

    top: FetchedManifest
    fallback: bool = False
    seconds: float = 0.0


class Compressor:
    """Transcoding copies for one Copier; bounds the transcodes in flight by memory."""

    def __init__(self, copier: Copier, spec: Compression) -> None:
        self.copier = copier
        self.spec = spec
        context = zstandard.ZstdCompressionParameters.from_level(spec.level)
        each = context.estimated_compression_context_size() + TRANSCODE_OVERHEAD
        fits = max(1, TRANSCODE_BUDGET // each)
        # Own threads, as few as fit: every thread that ever ran a zstd context keeps its
        # malloc arena's high-water mark, so sharing the copier's blob pool would leave
        # `jobs` arenas full however few ran at once (measured: 210 MB for 8 layers).
        self._pool = ThreadPoolExecutor(min(copier.options.jobs, fits), thread_name_prefix="zstd")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- already there? -----------------------------------------------------------------

    @staticmethod
    def holds(route: _Route, current: ManifestHead, source: Digest) -> bool:
        """Whether the destination's manifest is a transcoded copy of `source` (one GET)."""
        fetched = route.dest.get_manifest(route.dst_repo, str(current.digest))
        return compressed_from(json.loads(fetched.data)) == str(source)

    # -- the transfer -------------------------------------------------------------------

    def transfer(
        self, route: _Route, top: FetchedManifest, tag: str | None, stats: _Counts
    ) -> CompressionResult:
        tree = _Tree()
        self._walk(route, top, tree)
        layers = {
            layer.descriptor.digest: layer for node in tree.nodes for layer in node.layers.values()
        }
        planned = list(tree.originals.values()) + [layer.descriptor for layer in layers.values()]
        self.copier.progress.blobs_planned(len(planned), sum(blob.size for blob in planned))
        started = time.monotonic()
        futures: dict[str, Future[tuple[Digest, int] | None]] = {
            digest: self._pool.submit(self._layer, route, layer, stats)
            for digest, layer in layers.items()
        }
        _done, pending = wait(futures.values(), return_when=FIRST_EXCEPTION)
        for future in pending:  # one layer failed: the image fails; start no other layer
            future.cancel()
        wait(pending)
        for future in futures.values():
            error = None if future.cancelled() else future.exception()
            if error is not None:
                raise error
        outcomes = {digest: future.result() for digest, future in futures.items()}
        seconds = time.monotonic() - started
        for digest, outcome in outcomes.items():
            source_size = layers[digest].descriptor.size
            stats.add("compress_bytes_before", source_size)
            if outcome is None:
                tree.originals.setdefault(digest, layers[digest].descriptor)
                stats.add("layers_kept")
                stats.add("compress_bytes_after", source_size)
            else:
                stats.add("layers_compressed")
                stats.add("compress_bytes_after", outcome[1])
        self.copier._copy_blobs(route, list(tree.originals.values()), stats)
        rewritten = self._rewrite(tree, outcomes)
        try:
            pushed = self._push(route, rewritten, tag, stats)
        except (InvalidInput, Unsupported) as exc:
            if all(new is node.fetched for new, node in zip(rewritten, tree.nodes, strict=True)):
                raise  # nothing was rewritten: the refusal is not about zstd
            log.warning(
                "%s refused the zstd manifest (%s); copying the original layers instead",
                route.dest.host,
                exc,
            )
            self.copier._transfer(route, top, tag, stats)
            return CompressionResult(top, fallback=True, seconds=seconds)
        return CompressionResult(pushed, seconds=seconds)

    def _walk(self, route: _Route, fetched: FetchedManifest, tree: _Tree) -> None:
        if str(fetched.digest) in tree.seen:
            return
        tree.seen.add(str(fetched.digest))
        node = _Node(fetched)
        if fetched.manifest.is_index:
            for child in fetched.manifest.manifests:
                if child.media_type not in mt.MANIFEST_TYPES:
                    tree.originals.setdefault(child.digest, child)
                    continue
                self._walk(route, route.source.get_manifest(route.src_repo, child.digest), tree)
        else:
            diff_ids = _diff_ids(route, fetched)
            for position, blob in enumerate(fetched.manifest.layers):
                if diff_ids is not None and blob.media_type in TRANSCODABLE and not blob.urls:
                    node.layers[position] = _Layer(blob, diff_ids[position])
                else:
                    tree.originals.setdefault(blob.digest, blob)
            if fetched.manifest.config is not None:
                tree.originals.setdefault(fetched.manifest.config.digest, fetched.manifest.config)
        tree.nodes.append(node)

    def _layer(self, route: _Route, layer: _Layer, stats: _Counts) -> tuple[Digest, int] | None:
        """Transcode one layer and upload it; None when it is kept (too little saved)."""
        blob = layer.descriptor
        where = Where(route.source.host, route.src_repo, blob.digest[:19], "transcode layer")

        def stream(chunks: Iterator[bytes]) -> Iterator[bytes]:
            return transcoded(
                chunks,
                source=blob.parsed_digest,
                source_size=blob.size,
                diff_id=layer.diff_id,
                gzipped=layer.gzipped,
                level=self.spec.level,
                where=where,
            )

        spooled = blob.size <= SPOOL_LIMIT
        with _spool(spooled) as spool:

            def first_pass() -> tuple[Digest, int] | None:
                spool.seek(0)
                spool.truncate()
                with route.source.open_blob(route.src_repo, blob.parsed_digest) as chunks:
                    return measure(stream(chunks), spool.write, self.spec.give_up_above(blob.size))

            result = route.source.retrying(first_pass)
            if result is None:
                log.info(
                    "layer %s kept: zstd saves under %.0f%%",
                    blob.parsed_digest.short,
                    self.spec.min_saving * 100,
                )
                return None
            digest, size = result

            @contextlib.contextmanager
            def from_spool() -> Iterator[Iterator[bytes]]:
                spool.seek(0)
                yield iter(lambda: spool.read(_READ), b"")

            @contextlib.contextmanager
            def second_pass() -> Iterator[Iterator[bytes]]:
                with route.source.open_blob(route.src_repo, blob.parsed_digest) as chunks:
                    yield stream(chunks)

            self._upload(route, digest, size, from_spool if spooled else second_pass, stats)
        return digest, size

    def _upload(
        self,
        route: _Route,
        digest: Digest,
        size: int,
        opener: Callable[[], contextlib.AbstractContextManager[Iterator[bytes]]],
        stats: _Counts,
    ) -> None:
        progress = self.copier.progress
        if route.dest.head_blob(route.dst_repo, digest) is not None:
            stats.add("blobs_skipped")
            progress.blob_done(str(digest), size, "skipped")
            return
        progress.blob_started(str(digest), size)
        route.dest.retrying(
            lambda: route.dest.upload_blob(
                route.dst_repo, digest, size, opener, on_bytes=progress.bytes_moved
            )
        )
        self.copier.locations.remember(route.dest.host, digest, route.dst_repo)
        stats.add("blobs_copied")
        stats.add("bytes_copied", size)
        progress.blob_done(str(digest), size, "copied")

    @staticmethod
    def _rewrite(
        tree: _Tree, outcomes: dict[str, tuple[Digest, int] | None]
    ) -> list[FetchedManifest]:
        """The tree's manifests, children first, with transcoded layers in place."""
        replaced: dict[str, tuple[Digest, int]] = {}
        rewritten: list[FetchedManifest] = []
        for node in tree.nodes:
            fetched = node.fetched
            raw: dict[str, Any] = json.loads(fetched.data)
            data: bytes | None = None
            if fetched.manifest.is_index:
                children = {
                    child.digest: replaced[child.digest]
                    for child in fetched.manifest.manifests
                    if child.digest in replaced
                }
                if children:
                    data = rewrite_index(raw, children, fetched.digest)
            else:
                layers = {
                    position: outcome
                    for position, layer in node.layers.items()
                    if (outcome := outcomes[layer.descriptor.digest]) is not None
                }
                if layers:
                    data = rewrite_image(raw, layers, fetched.digest)
            if data is None:
                rewritten.append(fetched)
                continue
            new = FetchedManifest(
                data,
                Digest.of(data),
                mt.OCI_INDEX if fetched.manifest.is_index else mt.OCI_MANIFEST,
                parse_manifest(data, None),
            )
            replaced[str(fetched.digest)] = (new.digest, len(data))
            rewritten.append(new)
        return rewritten

    @staticmethod
    def _push(
        route: _Route, manifests: list[FetchedManifest], tag: str | None, stats: _Counts
    ) -> FetchedManifest:
        top = manifests[-1]
        for fetched in manifests:
            reference = tag if fetched is top and tag else str(fetched.digest)
            route.dest.put_manifest(route.dst_repo, reference, fetched.data, fetched.media_type)
            stats.add("manifests_pushed")
        return top


def _diff_ids(route: _Route, image: FetchedManifest) -> list[Digest] | None:
    """The config's diff_ids, one per layer; None when the config is not an image config
    that lists them (an artifact): such a manifest is copied as it is."""
    config = image.manifest.config
    if config is None or config.media_type not in (mt.OCI_CONFIG, mt.DOCKER_CONFIG):
        return None
    data = route.source.get_blob(route.src_repo, config.parsed_digest)
    try:
        listed = json.loads(data)["rootfs"]["diff_ids"]
        diff_ids = [Digest.parse(value) for value in listed]
    except (ValueError, KeyError, TypeError, InvalidInput):
        return None
    return diff_ids if len(diff_ids) == len(image.manifest.layers) else None


@contextlib.contextmanager
def _spool(spooled: bool) -> Iterator[_Spool]:
    """Where a layer's first pass writes: a spool file, or nowhere (measured only)."""
    if not spooled:
        yield _Discard()
        return
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, prefix="freightliner-") as spool:
        yield spool


class _Discard:
    """A sink that keeps nothing: the first pass over a layer too large to spool."""

    def write(self, data: bytes) -> int:
        return len(data)

    def seek(self, offset: int) -> int:
        return offset

    def truncate(self) -> int:
        return 0

    def read(self, size: int = -1) -> bytes:
        return b""
