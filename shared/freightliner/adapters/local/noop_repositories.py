"""Repository admin for plain OCI registries: they create repositories on first push."""

from __future__ import annotations

from freightliner.ports.repositories import RepositoryInfo


class NoopRepositoryAdmin:
    def ensure_repository(self, registry: str, repository: str) -> RepositoryInfo:
        return RepositoryInfo()
