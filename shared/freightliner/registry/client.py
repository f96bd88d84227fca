"""A client for the OCI Distribution API (and Docker Registry v2) on one registry.

Manifests, blobs (streamed, verified, monolithic or chunked upload, cross-repository mount),
tags and catalog with `Link` pagination, and referrers with the tag-schema fallback. What a
registry serves is untrusted: manifests are read to a limit and digest-checked before they are
parsed, pagination ends, and a blob's bytes are verified before the last of them is sent on.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import httpx

from freightliner.domain import mediatypes as mt
from freightliner.domain.digest import Digest, DigestVerifier, read_verified, verify_bytes
from freightliner.domain.errors import (
    DigestMismatch,
    InvalidInput,
    TagConflict,
    Unauthorized,
    Unavailable,
    Unsupported,
    Where,
)
from freightliner.domain.manifest import Descriptor, parse_manifest
from freightliner.domain.uploads import UploadPaused
from freightliner.ports.registry import (
    BlobSource,
    FetchedManifest,
    ManifestHead,
    PushedManifest,
    fallback_tag,
)
from freightliner.registry.auth import origin, safe_url
from freightliner.registry.transport import CredentialsRefreshed, RegistryTransport, Reply
from freightliner.registry.untag import delete_tag_by_placeholder

__all__ = [
    "BlobSource",
    "FetchedManifest",
    "ManifestHead",
    "PushedManifest",
    "RegistryClient",
    "fallback_tag",
]

T = TypeVar("T")


log = logging.getLogger(__name__)
_RANGE_RE = re.compile(r"^(?:bytes=)?0-(-?[0-9]+)$")
_LINK_RE = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
MAX_UPLOAD_RESTARTS = 3
MAX_PAGES = 10_000
"""Listing pages followed at most: 10 million tags or repositories at the usual page size."""
LISTING_PAGE_LIMIT = 16 * 1024 * 1024
"""Bytes of one tags or catalog page (registries that ignore `n` send every tag at once)."""
MANIFEST_WHAT = "manifest (limits.max_manifest_bytes in the registries config)"


class BlobStream(Iterator[bytes]):
    """A blob's bytes as a source serves them, with where they come from: a stream that
    breaks, ends early or carries other bytes is that source's failure."""

    def __init__(self, chunks: Iterator[bytes], where: Where) -> None:
        self._chunks = chunks
        self.where = where

    def __next__(self) -> bytes:
        return next(self._chunks)


@dataclass(frozen=True, slots=True)
class _Upload:
    """One blob on its way up: what it is, where its bytes come from, who counts them."""

    repository: str
    digest: Digest
    size: int
    source: BlobSource
    on_bytes: Callable[[int], None] | None
    on_chunk: Callable[[str, int], None] | None = None
    stop: Callable[[], bool] | None = None

    def counted(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            if self.on_bytes:
                self.on_bytes(len(piece))
            yield piece


def _next_link(response: Reply) -> str | None:
    match = _LINK_RE.search(response.headers.get("Link", ""))
    return match.group(1) if match else None


def _source_where(chunks: Iterator[bytes], digest: Digest) -> Where:
    if isinstance(chunks, BlobStream):
        return chunks.where
    return Where(reference=str(digest), operation="read source blob")


class _ExactReader:
    """Hands out exactly-sized slices of a source's chunk stream, verifying everything it
    reads; the blob's last byte is handed out only after the whole blob has verified."""

    def __init__(self, chunks: Iterator[bytes], digest: Digest, size: int) -> None:
        self._chunks = chunks
        self._verifier = DigestVerifier(digest, size, _source_where(chunks, digest))
        self._size = size
        self._pending = b""

    def take(self, count: int) -> Iterator[bytes]:
        remaining = count
        while remaining > 0:
            if not self._pending:
                try:
                    chunk = next(self._chunks)
                except StopIteration:
                    raise DigestMismatch(
                        f"the source stream ended {remaining} bytes early", self._verifier.where
                    ) from None
                self._verifier.update(chunk)
                self._pending = chunk
            piece, self._pending = self._pending[:remaining], self._pending[remaining:]
            remaining -= len(piece)
            if remaining == 0 and self._verifier.seen - len(self._pending) == self._size:
                self.finish()  # the blob's last piece: nothing goes out unverified
            yield piece

    def finish(self) -> None:
        """Drain what is left (there should be nothing) and check the digest."""
        if self._pending:
            raise DigestMismatch("the source sent more than declared", self._verifier.where)
        for chunk in self._chunks:
            self._verifier.update(chunk)
        self._verifier.verify()


class RegistryClient:
    """Operations on one registry host over HTTP: the `Registry` port's real implementation.
    Thread-safe; share one per host."""

    def __init__(self, host: str, transport: RegistryTransport, chunk_size: int) -> None:
        self.host = host
        self.transport = transport
        self.chunk_size = chunk_size

    def _where(self, repository: str = "", reference: str = "", operation: str = "") -> Where:
        return Where(self.host, repository, reference, operation)

    # -- manifests ----------------------------------------------------------------------

    def head_manifest(self, repository: str, reference: str) -> ManifestHead | None:
        where = self._where(repository, reference, "HEAD manifest")
        response = self.transport.request(
            "HEAD",
            f"/v2/{repository}/manifests/{reference}",
            where,
            headers={"Accept": mt.ACCEPT},
            missing_ok=True,
        )
        if response is None:
            return None
        header = response.headers.get("Docker-Content-Digest")
        if not header:
            # Some registries omit the digest on HEAD; GET tells for certain.
            fetched = self.get_manifest(repository, reference)
            return ManifestHead(fetched.digest, fetched.media_type, len(fetched.data))
        length = response.headers.get("Content-Length", "")
        return ManifestHead(
            Digest.parse(header),
            response.headers.get("Content-Type", "").split(";")[0],
            int(length) if length.isdigit() else 0,
        )

    def get_manifest(self, repository: str, reference: str) -> FetchedManifest:
        where = self._where(repository, reference, "GET manifest")
        response = self.transport.request(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            where,
            headers={"Accept": mt.ACCEPT},
            limit=self.transport.limits.max_manifest_bytes,
            what=MANIFEST_WHAT,
        )
        assert response is not None
        data = response.content
        if reference.startswith(("sha256:", "sha512:")):
            digest = Digest.parse(reference)
        else:
            header = response.headers.get("Docker-Content-Digest")
            digest = Digest.parse(header) if header else Digest.of(data)
        verify_bytes(data, digest, where)  # before parsing: corrupt bytes are a mismatch
        manifest = parse_manifest(data, response.headers.get("Content-Type"), where)
        return FetchedManifest(data, digest, manifest.media_type, manifest)

    def put_manifest(
        self, repository: str, reference: str, data: bytes, media_type: str
    ) -> PushedManifest:
        where = self._where(repository, reference, "PUT manifest")
        response = self.transport.request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            where,
            ok=(200, 201, 202),
            headers={"Content-Type": media_type},
            content=data,
        )
        assert response is not None
        expected = Digest.of(data)
        header = response.headers.get("Docker-Content-Digest", "")
        if header and header != str(expected) and not header.startswith("sha512:"):
            self._confirm_pushed(repository, reference, expected, header, where)
        return PushedManifest(expected, "OCI-Subject" in response.headers)

    def _confirm_pushed(
        self, repository: str, reference: str, expected: Digest, header: str, where: Where
    ) -> None:
        """The registry's reply named another digest: what the reference holds now decides."""
        stored = self.head_manifest(repository, reference)
        if stored is not None and stored.digest == expected:
            log.warning(
                "%s answered digest %.80r for a manifest it stored as %s; trusting what it stores",
                self.host,
                header,
                expected,
            )
            return
        found = stored.digest if stored is not None else "nothing"
        raise TagConflict(
            f"the registry answered digest {header[:80]!r} and the reference holds {found},"
            f" not the manifest pushed ({expected})",
            where,
        )

    def delete_manifest(self, repository: str, digest: Digest) -> None:
        where = self._where(repository, str(digest), "DELETE manifest")
        self.transport.request(
            "DELETE", f"/v2/{repository}/manifests/{digest}", where, ok=(200, 202)
        )

    def delete_tag(self, repository: str, tag: str) -> None:
        """`DELETE /v2/<name>/manifests/<tag>` (OCI distribution 1.1); where the registry only
        deletes by digest (distribution 2.x answers 400 DIGEST_INVALID), through a placeholder
        manifest (`registry.untag`)."""
        where = self._where(repository, tag, "DELETE tag")
        try:
            self.transport.request(
                "DELETE", f"/v2/{repository}/manifests/{tag}", where, ok=(200, 202)
            )
        except (InvalidInput, DigestMismatch, Unsupported) as exc:
            delete_tag_by_placeholder(self, repository, tag, where, exc.detail)

    # -- blobs --------------------------------------------------------------------------

    def head_blob(self, repository: str, digest: Digest) -> int | None:
        """The blob's size if the repository has it, else None."""
        where = self._where(repository, str(digest), "HEAD blob")
        response = self.transport.request(
            "HEAD", f"/v2/{repository}/blobs/{digest}", where, missing_ok=True
        )
        if response is None:
            return None
        length = response.headers.get("Content-Length", "")
        return int(length) if length.isdigit() else -1

    @contextlib.contextmanager
    def open_blob(self, repository: str, digest: Digest) -> Iterator[Iterator[bytes]]:
        """Stream a blob's raw bytes (registries may redirect to object storage)."""
        where = self._where(repository, str(digest), "GET blob")
        with self.transport.stream("GET", f"/v2/{repository}/blobs/{digest}", where) as resp:
            yield BlobStream(self.transport.body_chunks(resp, where, raw=True), where)

    def get_blob(self, repository: str, digest: Digest, limit: int = 16 * 1024 * 1024) -> bytes:
        """A small blob (a config) read whole and verified."""
        where = self._where(repository, str(digest), "GET blob")
        with self.open_blob(repository, digest) as chunks:
            return read_verified(chunks, digest, limit, where)

    def mount_blob(self, repository: str, digest: Digest, from_repository: str) -> str | None:
        """Mount from another repository; None when mounted, else the upload URL to use."""
        where = self._where(repository, str(digest), f"mount blob from {from_repository}")
        response = self.transport.request(
            "POST",
            f"/v2/{repository}/blobs/uploads/",
            where,
            ok=(201, 202),
            params={"mount": str(digest), "from": from_repository},
            mount_from=from_repository,
        )
        assert response is not None
        if response.status_code == 201:
            return None
        return self._location(response, where)

    def start_upload(self, repository: str) -> str:
        where = self._where(repository, "", "start blob upload")
        response = self.transport.request(
            "POST", f"/v2/{repository}/blobs/uploads/", where, ok=(202,)
        )
        assert response is not None
        return self._location(response, where)

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
        """Upload a blob from `source`, verifying it as it streams; nothing is committed unless
        every byte matched `digest`. A chunked upload may continue `location` from `offset`
        (the source is read again from its start and the bytes before `offset` only hashed),
        reports each chunk the registry acknowledged to `on_chunk(location, offset)`, and
        raises `UploadPaused` between chunks once `stop()` says so."""
        upload = _Upload(repository, digest, size, source, on_bytes, on_chunk, stop)
        try:
            self._upload(upload, location or self.start_upload(repository), offset)
        except CredentialsRefreshed:
            try:  # once more from the start, with the credentials now in hand
                self._upload(upload, self.start_upload(repository))
            except CredentialsRefreshed as exc:
                raise Unauthorized(
                    "authentication failed (HTTP 401) even after a credential refresh", exc.where
                ) from None

    def _upload(self, upload: _Upload, location: str, offset: int = 0) -> None:
        if upload.size <= self.chunk_size and not offset:
            self._upload_monolithic(upload, location)
        else:
            self._upload_chunked(upload, location, offset)

    def upload_offset(self, repository: str, location: str) -> int | None:
        """How many bytes an upload session holds (GET on its URL, the `Range` it answers);
        None when the registry has forgotten it (404), or the URL is not on this registry's
        own origin (a session URL is the registry's word: it is not followed elsewhere)."""
        where = self._where(repository, "", "upload status")
        absolute = self.transport.absolute(location)
        if origin(httpx.URL(absolute)) != origin(httpx.URL(self.transport.endpoint)):
            log.warning(
                "%s: a recorded upload session is on another origin; not resumed", self.host
            )
            return None
        try:
            response = self.transport.request("GET", absolute, where, ok=(204,), missing_ok=True)
        except InvalidInput as exc:  # e.g. a session state token the registry no longer takes
            log.info("%s refused a recorded upload session (%s); not resumed", self.host, exc)
            return None
        return _received(response, where) if response is not None else None

    def retrying(self, operation: Callable[[], T]) -> T:
        return self.transport.retry.call(operation)

    def _upload_monolithic(self, upload: _Upload, location: str) -> None:
        where = self._where(upload.repository, str(upload.digest), "PUT blob")
        with upload.source() as chunks:
            reader = _ExactReader(chunks, upload.digest, upload.size)
            floor = self.transport.write_floor(where)

            def body() -> Iterator[bytes]:
                yield from floor.writes(upload.counted(reader.take(upload.size)))
                reader.finish()

            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(upload.size),
            }
            with self.transport.stream(
                "PUT",
                location,
                where,
                ok=(201, 204),
                params={"digest": str(upload.digest)},
                headers=headers,
                content=body(),
            ):
                pass

    def _upload_chunked(self, upload: _Upload, location: str, offset: int = 0) -> None:
        where = self._where(upload.repository, str(upload.digest), "PATCH blob")
        size = upload.size
        floor = self.transport.write_floor(where)
        for _ in range(MAX_UPLOAD_RESTARTS + 1):
            with upload.source() as chunks:
                reader = _ExactReader(chunks, upload.digest, size)
                for _piece in reader.take(offset):
                    pass  # bytes the registry already holds: hash them, do not resend
                while offset < size:
                    if upload.stop is not None and upload.stop():
                        raise UploadPaused(offset)
                    count = min(self.chunk_size, size - offset)
                    with self.transport.stream(
                        "PATCH",
                        location,
                        where,
                        ok=(202, 416),
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Length": str(count),
                            "Content-Range": f"{offset}-{offset + count - 1}",
                        },
                        content=floor.writes(upload.counted(reader.take(count))),
                    ) as response:
                        if response.status_code == 416:
                            location, offset = self._upload_status(location, where)
                            break
                        location = self._location(response, where)
                        offset += count
                    if upload.on_chunk is not None:
                        upload.on_chunk(location, offset)
                else:
                    reader.finish()
                    self.transport.request(
                        "PUT",
                        location,
                        where,
                        ok=(201, 204),
                        params={"digest": str(upload.digest)},
                        headers={"Content-Length": "0"},
                        content=b"",
                    )
                    return
        raise Unavailable(
            f"upload kept losing its place after {MAX_UPLOAD_RESTARTS} restarts", where
        )

    def _upload_status(self, location: str, where: Where) -> tuple[str, int]:
        """Ask the registry how much of an upload it holds (after a 416)."""
        response = self.transport.request("GET", location, where, ok=(204,))
        assert response is not None
        return self._location(response, where, default=location), _received(response, where)

    def _location(self, response: Reply | httpx.Response, where: Where, default: str = "") -> str:
        location = response.headers.get("Location") or default
        if not location:
            raise Unavailable("registry did not say where to continue the upload", where)
        return self.transport.absolute(location)

    # -- listings -----------------------------------------------------------------------

    def _paginate(self, url: str, key: str, where: Where) -> Iterator[str]:
        """Every item of every page; a `Link` back to a page already read, or more than
        `MAX_PAGES` pages, ends the listing with an error instead of a loop."""
        next_url: str | None = self.transport.absolute(url)
        seen: set[str] = set()
        while next_url:
            if next_url in seen:
                raise Unsupported(
                    f"pagination loops: the registry's Link leads back to {safe_url(next_url)}",
                    where,
                )
            if len(seen) >= MAX_PAGES:
                raise Unsupported(f"listing has more than {MAX_PAGES} pages; stopped", where)
            seen.add(next_url)
            response = self.transport.request(
                "GET", next_url, where, limit=LISTING_PAGE_LIMIT, what="listing page"
            )
            assert response is not None
            yield from _page_items(response, key, where)
            link = _next_link(response)
            next_url = self.transport.absolute(link) if link else None

    def list_tags(self, repository: str, page_size: int = 1000) -> Iterator[str]:
        where = self._where(repository, "", "list tags")
        return self._paginate(f"/v2/{repository}/tags/list?n={page_size}", "tags", where)

    def catalog(self, page_size: int = 1000) -> Iterator[str]:
        where = self._where("", "", "list catalog")
        return self._paginate(f"/v2/_catalog?n={page_size}", "repositories", where)

    # -- referrers ----------------------------------------------------------------------

    def referrers(self, repository: str, digest: Digest) -> tuple[list[Descriptor], bool]:
        """Descriptors of manifests whose subject is `digest`, and whether the OCI referrers
        API answered (False: they came from the `sha256-<hex>` tag fallback)."""
        where = self._where(repository, str(digest), "list referrers")
        response = self.transport.request(
            "GET",
            f"/v2/{repository}/referrers/{digest}",
            where,
            headers={"Accept": mt.OCI_INDEX},
            missing_ok=True,
            limit=self.transport.limits.max_manifest_bytes,
            what="referrers list (limits.max_manifest_bytes in the registries config)",
        )
        if response is not None and response.headers.get("Content-Type", "").startswith(
            mt.OCI_INDEX
        ):
            index = parse_manifest(response.content, mt.OCI_INDEX, where)
            return list(index.manifests), True
        fallback = self.referrers_tag(repository, digest)
        if fallback is None:
            return [], False
        return list(fallback.manifest.manifests), False

    def referrers_tag(self, repository: str, digest: Digest) -> FetchedManifest | None:
        tag = fallback_tag(digest)
        if self.head_manifest(repository, tag) is None:
            return None
        return self.get_manifest(repository, tag)


def _received(response: Reply, where: Where) -> int:
    """The bytes an upload session holds, from its status reply's `Range`."""
    received = response.headers.get("Range", "")
    match = _RANGE_RE.match(received)
    if received and not match:
        raise Unavailable(f"registry sent an unreadable upload Range {received!r}", where)
    # "0-N" is inclusive; registries spell an empty upload "0-0" or "0--1".
    return int(match.group(1)) + 1 if match and int(match.group(1)) > 0 else 0


def _page_items(response: Reply, key: str, where: Where) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        raise Unsupported("listing page is not JSON", where) from None
    items = body.get(key) if isinstance(body, dict) else None
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise Unsupported(f"listing page's {key!r} is not a list of names", where)
    return items
