"""The repository-admin port: control-plane actions a registry API does not offer.

ECR needs a repository created before the first push and decides tag immutability per
repository; plain OCI registries create repositories on push and let tags move.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from freightliner.domain.sync import TaggedImage


class RepositoryInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    tags_immutable: bool = False
    created: bool = False


class RepositoryAdmin(Protocol):
    def ensure_repository(self, registry: str, repository: str) -> RepositoryInfo:
        """Make sure `repository` exists and say whether its tags are immutable."""
        ...

    def list_repositories(self, registry: str, prefix: str) -> Iterator[str] | None:
        """Every repository under `prefix`, page by page, from the control plane; None when
        the registry's own `_catalog` is the way to enumerate (plain OCI registries)."""
        ...

    def list_images(self, registry: str, repository: str) -> Iterator[TaggedImage] | None:
        """Every tag with its digest and push time, page by page, from the control plane;
        None when the registry's tags list is the way (it has no push times)."""
        ...
