"""The registry port: what the engine does with an OCI registry, and where it gets one.

Two implementations: the httpx client (`freightliner.registry.client`) for real registries,
and the in-memory registry (`freightliner.adapters.memory.registry`) for in-process tests. One
conformance suite holds both to the same contract (tests/integration).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, TypeVar

from freightliner.domain.digest import Digest
from freightliner.domain.manifest import Descriptor, Manifest
from freightliner.ports.repositories import RepositoryAdmin

T = TypeVar("T")

BlobSource = Callable[[], AbstractContextManager[Iterator[bytes]]]
"""Opens a fresh stream of a blob's bytes from the start; may be called again to restart."""


@dataclass(frozen=True, slots=True)
class ManifestHead:
    digest: Digest
    media_type: str
    size: int


@dataclass(frozen=True, slots=True)
class FetchedManifest:
    """The exact bytes a registry served, their digest, and the parsed document."""

    data: bytes
    digest: Digest
    media_type: str
    manifest: Manifest


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: Digest
    subject_accepted: bool  # the registry answered OCI-Subject: it maintains referrers itself


def fallback_tag(digest: Digest) -> str:
    """The referrers tag schema: `sha256:<hex>` → `sha256-<hex>` (truncated to 128 chars)."""
    return f"{digest.algorithm}-{digest.hex}"[:128]


class Registry(Protocol):
    """One registry host. Every digest it returns was verified against the bytes it read;
    failures raise the taxonomy in `freightliner.domain.errors`."""

    @property
    def host(self) -> str: ...

    # -- manifests
    def head_manifest(self, repository: str, reference: str) -> ManifestHead | None:
        """The manifest's digest, media type and size; None when there is no such manifest."""
        ...

    def get_manifest(self, repository: str, reference: str) -> FetchedManifest: ...

    def put_manifest(
        self, repository: str, reference: str, data: bytes, media_type: str
    ) -> PushedManifest:
        """Store `data` byte for byte under a tag or its own digest."""
        ...

    def delete_manifest(self, repository: str, digest: Digest) -> None: ...

    def delete_tag(self, repository: str, tag: str) -> None:
        """Remove a tag, keeping the manifest (OCI distribution 1.1 `DELETE` by tag)."""
        ...

    # -- blobs
    def head_blob(self, repository: str, digest: Digest) -> int | None:
        """The blob's size if the repository has it, else None."""
        ...

    def open_blob(self, repository: str, digest: Digest) -> AbstractContextManager[Iterator[bytes]]:
        """The blob's bytes as they arrive (the caller verifies them while they stream)."""
        ...

    def get_blob(self, repository: str, digest: Digest, limit: int = 16 * 1024 * 1024) -> bytes:
        """A small blob (a config) read whole, bounded by `limit` and verified."""
        ...

    def mount_blob(self, repository: str, digest: Digest, from_repository: str) -> str | None:
        """Mount from another repository; None when mounted, else the upload session the
        registry opened instead (pass it to `upload_blob` as `location`)."""
        ...

    def start_upload(self, repository: str) -> str:
        """Open an upload session; returns where it continues."""
        ...

    def upload_blob(
        self,
        repository: str,
        digest: Digest,
        size: int,
        source: BlobSource,
        *,
        location: str | None = None,
        on_bytes: Callable[[int], None] | None = None,
        offset: int = 0,
        on_chunk: Callable[[str, int], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        """Upload `size` bytes from `source` (in chunks above the registry's chunk size);
        nothing is committed unless every byte matched `digest`. Continuing the session
        `location` from `offset`, the source is read from its start and the first `offset`
        bytes only hashed. `on_chunk(location, offset)` follows every chunk the registry
        acknowledged; once `stop()` is true, it raises `UploadPaused` between chunks."""
        ...

    def upload_offset(self, repository: str, location: str) -> int | None:
        """How many bytes an upload session holds, as the registry reports it; None when it
        has forgotten the session or `location` is not on the registry's own origin."""
        ...

    def retrying(self, operation: Callable[[], T]) -> T:
        """Run a whole operation again under this registry's retry policy while it fails
        retryably: a streamed upload cannot be replayed request by request."""
        ...

    # -- listings
    def list_tags(self, repository: str, page_size: int = 1000) -> Iterator[str]:
        """Every tag, fetched a page at a time as the iterator is consumed."""
        ...

    def catalog(self, page_size: int = 1000) -> Iterator[str]:
        """Every repository, fetched a page at a time as the iterator is consumed."""
        ...

    # -- referrers
    def referrers(self, repository: str, digest: Digest) -> tuple[list[Descriptor], bool]:
        """Descriptors of manifests whose subject is `digest`, and whether the OCI referrers
        API answered (False: they came from the `sha256-<hex>` tag fallback)."""
        ...

    def referrers_tag(self, repository: str, digest: Digest) -> FetchedManifest | None:
        """The `sha256-<hex>` fallback index for `digest`, if the repository has one."""
        ...


class ClientSource(Protocol):
    """Where the engine gets a registry and a repository admin for a host (the factory the
    composition root, or a test, hands it)."""

    def client(self, host: str) -> Registry: ...

    def repository_admin(self, host: str) -> RepositoryAdmin: ...
