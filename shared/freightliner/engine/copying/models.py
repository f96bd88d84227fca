"""What a copy is asked to do and what it reports: the engine's boundary models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from freightliner.domain.compression import Compression
from freightliner.domain.metadata import DEFAULT_TTL_SECONDS
from freightliner.domain.platform import Platform


class CopyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platforms: list[str] = Field(
        default_factory=list, description="os/arch[/variant]; empty copies every platform"
    )
    referrers: bool = False
    force: bool = Field(
        default=False,
        description="re-upload blobs and re-put manifests the destination already has (repair)",
    )
    verify: bool = Field(
        default=False,
        description="when the destination has the image, still check every blob and upload "
        "the missing ones",
    )
    jobs: int = Field(default=8, ge=1, le=64)
    dry_run: bool = False
    metadata_ttl: float = Field(
        default=DEFAULT_TTL_SECONDS,
        ge=0,
        description="seconds a destination tag verified by an earlier run is trusted without "
        "a request (with a metadata cache)",
    )
    compress: Compression | None = Field(
        default=None,
        description="transcode gzip and plain layers to zstd (the manifest digest changes)",
    )

    @field_validator("platforms")
    @classmethod
    def _platforms(cls, values: list[str]) -> list[str]:
        return [str(Platform.parse(value)) for value in values]

    def parsed_platforms(self) -> list[Platform]:
        return [Platform.parse(value) for value in self.platforms]


class CopyReport(BaseModel):
    """One image copied (or planned): counts, bytes, time, and the digests on both sides."""

    source: str
    destination: str
    status: Literal["copied", "up-to-date", "planned"]
    media_type: str
    source_digest: str
    digest: str
    digest_changed: bool = False
    platforms: list[str] = Field(default_factory=list)
    manifests_pushed: int = 0
    manifests_skipped: int = 0
    blobs_copied: int = 0
    blobs_mounted: int = 0
    blobs_skipped: int = 0
    bytes_copied: int = 0
    referrers_copied: int = 0
    referrers_skipped: int = Field(
        default=0, description="referrers of the source digest not attached to the new one"
    )
    layers_compressed: int = 0
    layers_kept: int = Field(default=0, description="layers zstd did not shrink enough")
    compress_bytes_before: int = Field(default=0, description="eligible layers at the source")
    compress_bytes_after: int = Field(default=0, description="the same layers as written")
    compress_seconds: float = 0.0
    compress_fallback: bool = Field(
        default=False, description="the destination refused zstd: the original layers landed"
    )
    seconds: float = 0.0

    @property
    def compress_ratio(self) -> float:
        """Bytes after over bytes before for the eligible layers (1.0 when none)."""
        before = self.compress_bytes_before
        return self.compress_bytes_after / before if before else 1.0
