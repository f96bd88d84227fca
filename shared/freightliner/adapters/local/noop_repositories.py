"""Repository admin for plain OCI registries: they create repositories on first push."""

from __future__ import annotations

from collections.abc import Iterator

from freightliner.domain.sync import TaggedImage
from freightliner.ports.repositories import RepositoryInfo


class NoopRepositoryAdmin:
    def ensure_repository(self, registry: str, repository: str) -> RepositoryInfo:
        return RepositoryInfo()

    def list_repositories(self, registry: str, prefix: str) -> Iterator[str] | None:
        return None

    def list_images(self, registry: str, repository: str) -> Iterator[TaggedImage] | None:
        return None
