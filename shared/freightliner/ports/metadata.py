"""The metadata-cache port: repository listings, verified destination copies and where a
registry holds a blob, remembered between runs so a no-op resync asks (almost) nothing.

The CLI keeps them in SQLite (`adapters.local.sqlite_metadata`); in-process tests use the
in-memory one (`adapters.memory.metadata`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from freightliner.domain.metadata import ImageRecord, ListingDepth, RepositoryListing


@runtime_checkable
class RepositoryMetadata(Protocol):
    """A control plane that describes a repository's images in listing calls (ECR
    DescribeImages + BatchGetImage, Artifact Registry dockerImages): a repository admin that
    has it is asked instead of one registry request per tag."""

    def describe_images(
        self, registry: str, repository: str, depth: ListingDepth
    ) -> Iterator[ImageRecord]:
        """Every tag with digest, media type, size and push time (`images`: platforms of
        indexes too, where that costs listing calls only)."""
        ...


class MetadataCache(Protocol):
    def listing(self, registry: str, repository: str) -> RepositoryListing | None:
        """The last listing stored for the repository, however old (the caller judges)."""
        ...

    def store_listing(self, listing: RepositoryListing) -> None: ...

    def verified(self, registry: str, repository: str, tag: str, max_age: float) -> str | None:
        """The digest a destination tag was verified to hold less than `max_age` s ago."""
        ...

    def mark_verified(self, registry: str, repository: str, tag: str, digest: str) -> None:
        """The destination tag was just seen (or written) holding `digest`."""
        ...

    def blob_holder(self, registry: str, digest: str) -> str | None:
        """A repository of `registry` that held the blob when last seen."""
        ...

    def remember_blobs(self, registry: str, repository: str, digests: Iterable[str]) -> None: ...
