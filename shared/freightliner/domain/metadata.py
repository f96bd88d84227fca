"""Repository metadata: what a repository holds (tags with digest, media type, platforms,
size, push time), when it was listed, and which destination copies were verified when.

Pure models: the cache that keeps them (SQLite for the CLI) and the listings that fill them
(ECR DescribeImages, Artifact Registry dockerImages, the tags list) live elsewhere.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_TTL_SECONDS = 3600
"""How long a listing, or a verified destination copy, is trusted without asking again."""

ListingDepth = Literal["tags", "images"]
"""`tags`: tags and digests; `images`: also media type, platforms, size and push time."""

_COMPANION = re.compile(r"^(?P<algorithm>sha256|sha512)-(?P<hex>[0-9a-f]{64}|[0-9a-f]{128})\.")


class ImageRecord(BaseModel):
    """One tag of a repository as its registry describes it."""

    model_config = ConfigDict(frozen=True)

    tag: str
    digest: str
    media_type: str = ""
    platforms: list[str] = Field(default_factory=list)
    size: int | None = Field(default=None, description="manifest, config and layers, in bytes")
    pushed_at: datetime | None = None


class RepositoryListing(BaseModel):
    """Every tag of one repository, as listed at `listed_at` (seconds since the epoch)."""

    registry: str
    repository: str
    depth: ListingDepth
    listed_at: float
    images: list[ImageRecord] = Field(default_factory=list)

    def fresh(self, now: float, ttl: float, depth: ListingDepth) -> bool:
        """Young enough, and at least as deep as asked (`images` answers `tags` too)."""
        deep_enough = self.depth == "images" or depth == "tags"
        return deep_enough and now - self.listed_at < ttl


def companion_subject(tag: str) -> str | None:
    """The subject digest a cosign-style companion tag (`sha256-<hex>.sig`, `.att`, `.sbom`,
    any `sha256-<hex>.*`) belongs to; None for any other tag."""
    match = _COMPANION.match(tag)
    return f"{match['algorithm']}:{match['hex']}" if match else None
