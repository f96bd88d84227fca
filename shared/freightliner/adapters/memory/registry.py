"""An OCI registry held in memory: the `Registry` port without a network.

It keeps the rules a real registry enforces, so engine tests running on it mean something:
content is verified on every put (blobs by their digest, manifests by the digest they are
pushed under, and their blobs and children must be present), blobs mount across
repositories, uploads are sessions with offsets that commit only verified bytes, tags and the
catalog come a page at a time, and referrers come from the OCI API or, when the registry is
built without it (like distribution 2.8), from the `sha256-<hex>` tag fallback. `faults`
schedules errors per operation; `tamper_*` makes it serve bytes that no longer match, as a
compromised registry would.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from freightliner.adapters.memory.faults import Faults
from freightliner.domain import mediatypes as mt
from freightliner.domain.digest import Digest, DigestVerifier, read_verified, verify_bytes
from freightliner.domain.errors import (
    InvalidInput,
    NotFound,
    TagConflict,
    Where,
)
from freightliner.domain.manifest import Descriptor, Manifest, parse_manifest
from freightliner.domain.retry import RetryPolicy
from freightliner.domain.sync import TaggedImage
from freightliner.domain.uploads import UploadPaused
from freightliner.ports.registry import (
    BlobSource,
    FetchedManifest,
    ManifestHead,
    PushedManifest,
    fallback_tag,
)
from freightliner.ports.repositories import RepositoryInfo

T = TypeVar("T")

OPERATIONS = (
    "head_manifest",
    "get_manifest",
    "put_manifest",
    "delete_manifest",
    "delete_tag",
    "head_blob",
    "open_blob",
    "read_blob_chunk",
    "mount_blob",
    "start_upload",
    "patch_upload",
    "finish_upload",
    "list_tags",
    "catalog",
    "referrers",
)
"""What `faults` can make fail: one name per request a real registry would see (a page of a
listing, a chunk of an upload or of a blob read)."""

_DIGEST_PREFIXES = ("sha256:", "sha512:")


@dataclass(frozen=True, slots=True)
class _StoredManifest:
    data: bytes
    media_type: str
    manifest: Manifest


@dataclass
class _Repository:
    blobs: set[Digest] = field(default_factory=set)
    manifests: dict[Digest, _StoredManifest] = field(default_factory=dict)
    tags: dict[str, Digest] = field(default_factory=dict)
    immutable: bool = False


@dataclass
class _Session:
    repository: str
    received: bytearray = field(default_factory=bytearray)


class MemoryRegistry:
    """One registry host in memory. Thread-safe."""

    def __init__(
        self,
        host: str = "memory.invalid",
        *,
        chunk_size: int = 4 * 1024 * 1024,
        read_chunk_size: int = 64 * 1024,
        referrers_api: bool = True,
        retry_attempts: int = 3,
    ) -> None:
        self.host = host
        self.chunk_size = chunk_size
        self.read_chunk_size = read_chunk_size
        self.referrers_api = referrers_api
        self.retry_attempts = retry_attempts
        self.faults = Faults(OPERATIONS)
        self.refused_layer_types: set[str] = set()  # manifests using these are refused (400)
        self._lock = threading.RLock()
        self._content: dict[Digest, bytes] = {}
        self._repositories: dict[str, _Repository] = {}
        self._sessions: dict[str, _Session] = {}

    def _where(self, repository: str = "", reference: str = "", operation: str = "") -> Where:
        return Where(self.host, repository, reference, operation)

    def _enter(self, operation: str, where: Where) -> None:
        self.faults.check(operation, where)

    def _repository(self, name: str) -> _Repository:
        with self._lock:
            return self._repositories.setdefault(name, _Repository())

    def _existing(self, name: str, where: Where) -> _Repository:
        with self._lock:
            found = self._repositories.get(name)
        if found is None:
            raise NotFound("repository name not known to registry", where)
        return found

    # -- what tests arrange -------------------------------------------------------------

    def set_immutable(self, repository: str, immutable: bool = True) -> None:
        """Refuse to move this repository's tags (as an ECR repository with IMMUTABLE tags)."""
        self._repository(repository).immutable = immutable

    def tamper_blob(self, digest: Digest, data: bytes) -> None:
        """Serve `data` for `digest` from now on, as a compromised registry would."""
        with self._lock:
            self._content[digest] = data

    def tamper_manifest(self, repository: str, digest: Digest, data: bytes) -> None:
        """Serve `data` for the manifest `digest` (and its tags) from now on."""
        with self._lock:
            repo = self._repositories[repository]
            stored = repo.manifests[digest]
            repo.manifests[digest] = _StoredManifest(data, stored.media_type, stored.manifest)

    def repository_info(self, repository: str) -> RepositoryInfo:
        with self._lock:
            created = repository not in self._repositories
            return RepositoryInfo(
                tags_immutable=self._repository(repository).immutable, created=created
            )

    @property
    def open_sessions(self) -> int:
        with self._lock:
            return len(self._sessions)

    # -- manifests ----------------------------------------------------------------------

    def _resolve(self, repository: str, reference: str) -> tuple[Digest, _StoredManifest] | None:
        with self._lock:
            repo = self._repositories.get(repository)
            if repo is None:
                return None
            digest = (
                Digest.parse(reference)
                if reference.startswith(_DIGEST_PREFIXES)
                else repo.tags.get(reference)
            )
            stored = repo.manifests.get(digest) if digest is not None else None
            return (digest, stored) if digest is not None and stored is not None else None

    def head_manifest(self, repository: str, reference: str) -> ManifestHead | None:
        self._enter("head_manifest", self._where(repository, reference, "HEAD manifest"))
        found = self._resolve(repository, reference)
        if found is None:
            return None
        digest, stored = found
        return ManifestHead(digest, stored.media_type, len(stored.data))

    def get_manifest(self, repository: str, reference: str) -> FetchedManifest:
        where = self._where(repository, reference, "GET manifest")
        self._enter("get_manifest", where)
        found = self._resolve(repository, reference)
        if found is None:
            raise NotFound("manifest unknown", where)
        digest, stored = found
        verify_bytes(stored.data, digest, where)
        manifest = parse_manifest(stored.data, stored.media_type, where)
        return FetchedManifest(stored.data, digest, manifest.media_type, manifest)

    def put_manifest(
        self, repository: str, reference: str, data: bytes, media_type: str
    ) -> PushedManifest:
        where = self._where(repository, reference, "PUT manifest")
        self._enter("put_manifest", where)
        manifest = parse_manifest(data, media_type, where)
        refused = {layer.media_type for layer in manifest.layers} & self.refused_layer_types
        if refused:
            raise InvalidInput(f"MANIFEST_INVALID: unsupported layer type {min(refused)}", where)
        digest = Digest.of(data)
        if reference.startswith(_DIGEST_PREFIXES):
            pinned = Digest.parse(reference)
            verify_bytes(data, pinned, where)
            digest = pinned
        with self._lock:
            repo = self._repository(repository)
            self._check_references(repo, manifest, where)
            is_tag = not reference.startswith(_DIGEST_PREFIXES)
            current = repo.tags.get(reference) if is_tag else None
            if repo.immutable and current is not None and current != digest:
                raise TagConflict(f"tag is immutable and points at {current.short}", where)
            repo.manifests[digest] = _StoredManifest(data, media_type, manifest)
            if is_tag:
                repo.tags[reference] = digest
        return PushedManifest(digest, self.referrers_api and manifest.subject is not None)

    @staticmethod
    def _check_references(repo: _Repository, manifest: Manifest, where: Where) -> None:
        """A registry refuses a manifest whose blobs or child manifests it does not hold."""
        for child in manifest.manifests:
            if child.media_type in mt.MANIFEST_TYPES and child.parsed_digest not in repo.manifests:
                raise InvalidInput(f"manifest refers to unknown manifest {child.digest}", where)
        for blob in manifest.blobs():
            if not blob.urls and blob.parsed_digest not in repo.blobs:
                raise InvalidInput(f"manifest refers to unknown blob {blob.digest}", where)

    def delete_manifest(self, repository: str, digest: Digest) -> None:
        where = self._where(repository, str(digest), "DELETE manifest")
        self._enter("delete_manifest", where)
        with self._lock:
            repo = self._existing(repository, where)
            if repo.manifests.pop(digest, None) is None:
                raise NotFound("manifest unknown", where)
            repo.tags = {tag: d for tag, d in repo.tags.items() if d != digest}

    def delete_tag(self, repository: str, tag: str) -> None:
        where = self._where(repository, tag, "DELETE tag")
        self._enter("delete_tag", where)
        with self._lock:
            repo = self._existing(repository, where)
            if repo.tags.pop(tag, None) is None:
                raise NotFound("tag unknown", where)

    # -- blobs --------------------------------------------------------------------------

    def head_blob(self, repository: str, digest: Digest) -> int | None:
        self._enter("head_blob", self._where(repository, str(digest), "HEAD blob"))
        with self._lock:
            repo = self._repositories.get(repository)
            if repo is None or digest not in repo.blobs:
                return None
            return len(self._content[digest])

    @contextlib.contextmanager
    def open_blob(self, repository: str, digest: Digest) -> Iterator[Iterator[bytes]]:
        where = self._where(repository, str(digest), "GET blob")
        self._enter("open_blob", where)
        with self._lock:
            if digest not in self._existing(repository, where).blobs:
                raise NotFound("blob unknown to registry", where)
            data = self._content[digest]

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(data), self.read_chunk_size):
                self._enter("read_blob_chunk", where)
                yield data[start : start + self.read_chunk_size]

        yield chunks()

    def get_blob(self, repository: str, digest: Digest, limit: int = 16 * 1024 * 1024) -> bytes:
        where = self._where(repository, str(digest), "GET blob")
        with self.open_blob(repository, digest) as chunks:
            return read_verified(chunks, digest, limit, where)

    def mount_blob(self, repository: str, digest: Digest, from_repository: str) -> str | None:
        where = self._where(repository, str(digest), f"mount blob from {from_repository}")
        self._enter("mount_blob", where)
        with self._lock:
            source = self._repositories.get(from_repository)
            if source is not None and digest in source.blobs:
                self._repository(repository).blobs.add(digest)
                return None
        return self._open_session(repository)

    def start_upload(self, repository: str) -> str:
        self._enter("start_upload", self._where(repository, "", "start blob upload"))
        return self._open_session(repository)

    def _open_session(self, repository: str) -> str:
        location = f"memory://{self.host}/v2/{repository}/blobs/uploads/{uuid.uuid4()}"
        with self._lock:
            self._repository(repository)
            self._sessions[location] = _Session(repository)
        return location

    def upload_offset(self, repository: str, location: str) -> int | None:
        """How many bytes the session holds (what a GET on the upload URL reports); None
        when the registry does not know it."""
        with self._lock:
            session = self._sessions.get(location)
            return len(session.received) if session is not None else None

    def forget_uploads(self) -> None:
        """Drop every open upload session, as a registry does after its upload purge."""
        with self._lock:
            self._sessions.clear()

    def _session_where(self, location: str, reference: str, operation: str) -> Where:
        with self._lock:
            session = self._sessions.get(location)
        return self._where(session.repository if session else "", reference, operation)

    def _session(self, location: str, where: Where) -> _Session:
        session = self._sessions.get(location)
        if session is None:
            raise NotFound("blob upload unknown to registry", where)
        return session

    def patch_upload(self, location: str, offset: int, data: bytes) -> int:
        """Append `data` at `offset` (which must be where the session stands); returns the
        new offset."""
        where = self._session_where(location, "", "PATCH blob")
        self._enter("patch_upload", where)
        with self._lock:
            session = self._session(location, where)
            if offset != len(session.received):
                raise InvalidInput(
                    f"upload chunk starts at {offset}, the session holds "
                    f"{len(session.received)} bytes",
                    where,
                )
            session.received += data
            return len(session.received)

    def finish_upload(self, location: str, digest: Digest, data: bytes = b"") -> None:
        """Append the last `data` and commit the blob if the whole upload hashes to `digest`;
        the session ends either way."""
        where = self._session_where(location, str(digest), "PUT blob")
        self._enter("finish_upload", where)
        with self._lock:
            session = self._session(location, where)
            del self._sessions[location]
            content = bytes(session.received + data)
            verify_bytes(content, digest, where)
            self._content.setdefault(digest, content)
            self._repository(session.repository).blobs.add(digest)

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
        """Monolithic up to `chunk_size`, else chunk by chunk at the session's offset (from
        `offset` when continuing `location`: the bytes before it are read and hashed, not
        sent); the stream is verified as it is read and nothing is committed if it does not
        match. `stop()` pauses between chunks (`UploadPaused`)."""
        where = self._where(repository, str(digest), "upload blob")
        location = location or self.start_upload(repository)
        verifier = DigestVerifier(digest, size, where)
        chunked = size > self.chunk_size or offset > 0
        pending = bytearray()
        skip = offset
        with source() as chunks:
            for chunk in chunks:
                verifier.update(chunk)
                held = min(skip, len(chunk))  # bytes the session holds already: not sent
                skip -= held
                pending += chunk[held:]
                while chunked and len(pending) >= self.chunk_size:
                    if stop is not None and stop():
                        raise UploadPaused(offset)
                    offset = self.patch_upload(location, offset, bytes(pending[: self.chunk_size]))
                    del pending[: self.chunk_size]
                    if on_bytes:
                        on_bytes(self.chunk_size)
                    if on_chunk:
                        on_chunk(location, offset)
        verifier.verify()
        self.finish_upload(location, digest, bytes(pending))
        if on_bytes and pending:
            on_bytes(len(pending))

    def retrying(self, operation: Callable[[], T]) -> T:
        """The one retry policy, without its pauses (in-memory failures are scripted)."""
        return RetryPolicy(attempts=self.retry_attempts, sleep=lambda _: None).call(operation)

    # -- listings -----------------------------------------------------------------------

    def _pages(
        self, names: Callable[[], list[str]], page_size: int, operation: str, where: Where
    ) -> Iterator[str]:
        """Sorted names a page at a time, each page after the last name served (the `last`
        parameter of the distribution API): names added behind the cursor are not served."""
        last: str | None = None
        while True:
            self._enter(operation, where)
            page = [n for n in sorted(names()) if last is None or n > last][:page_size]
            yield from page
            if len(page) < page_size:
                return
            last = page[-1]

    def list_tags(self, repository: str, page_size: int = 1000) -> Iterator[str]:
        where = self._where(repository, "", "list tags")

        def tags() -> list[str]:
            with self._lock:
                return list(self._existing(repository, where).tags)

        return self._pages(tags, page_size, "list_tags", where)

    def catalog(self, page_size: int = 1000) -> Iterator[str]:
        def repositories() -> list[str]:
            with self._lock:
                return [n for n, r in self._repositories.items() if r.blobs or r.manifests]

        return self._pages(repositories, page_size, "catalog", self._where("", "", "list catalog"))

    # -- referrers ----------------------------------------------------------------------

    def referrers(self, repository: str, digest: Digest) -> tuple[list[Descriptor], bool]:
        where = self._where(repository, str(digest), "list referrers")
        self._enter("referrers", where)
        if self.referrers_api:
            return self._subjects_of(repository, digest), True
        fallback = self.referrers_tag(repository, digest)
        return (list(fallback.manifest.manifests) if fallback else []), False

    def _subjects_of(self, repository: str, digest: Digest) -> list[Descriptor]:
        with self._lock:
            repo = self._repositories.get(repository)
            stored = list(repo.manifests.items()) if repo else []
        found: list[Descriptor] = []
        for manifest_digest, entry in sorted(stored, key=lambda pair: str(pair[0])):
            subject = entry.manifest.subject
            if subject is None or subject.parsed_digest != digest:
                continue
            config = entry.manifest.config
            found.append(
                Descriptor(
                    media_type=entry.manifest.media_type,
                    digest=str(manifest_digest),
                    size=len(entry.data),
                    artifact_type=entry.manifest.artifact_type
                    or (config.media_type if config else None),
                    annotations=entry.manifest.annotations,
                )
            )
        return found

    def referrers_tag(self, repository: str, digest: Digest) -> FetchedManifest | None:
        tag = fallback_tag(digest)
        if self.head_manifest(repository, tag) is None:
            return None
        return self.get_manifest(repository, tag)


class MemoryRepositoryAdmin:
    """The control plane of in-memory registries: repositories made on first push, tag
    immutability as each repository was set up; listings come from the registry itself."""

    def __init__(self, registry: MemoryRegistry) -> None:
        self._registry = registry

    def ensure_repository(self, registry: str, repository: str) -> RepositoryInfo:
        return self._registry.repository_info(repository)

    def list_repositories(self, registry: str, prefix: str) -> Iterator[str] | None:
        return None

    def list_images(self, registry: str, repository: str) -> Iterator[TaggedImage] | None:
        return None


class MemoryRegistries:
    """A `ClientSource` of in-memory registries, one per host, made on first use."""

    def __init__(self, *, chunk_size: int = 4 * 1024 * 1024, referrers_api: bool = True) -> None:
        self._chunk_size = chunk_size
        self._referrers_api = referrers_api
        self._lock = threading.Lock()
        self._registries: dict[str, MemoryRegistry] = {}

    def client(self, host: str) -> MemoryRegistry:
        with self._lock:
            found = self._registries.get(host)
            if found is None:
                found = self._registries[host] = MemoryRegistry(
                    host, chunk_size=self._chunk_size, referrers_api=self._referrers_api
                )
            return found

    def repository_admin(self, host: str) -> MemoryRepositoryAdmin:
        return MemoryRepositoryAdmin(self.client(host))
