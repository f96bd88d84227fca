"""Sync definitions: which repositories of a tree go where, and which of their tags.

A sync file holds several syncs. Each names a source registry and prefix, a destination
registry and prefix (the prefix is renamed: `prod/` → `mirror/prod/`), repository globs,
tag filters (regexes, a semver range, the N most recently pushed, the N highest versions),
platforms, referrers, skip-existing / force, concurrency and an optional schedule.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from freightliner.domain.compression import Compression, compression_switch
from freightliner.domain.documents import load_document
from freightliner.domain.errors import InvalidInput
from freightliner.domain.globs import glob_match
from freightliner.domain.metadata import companion_subject
from freightliner.domain.platform import Platform
from freightliner.domain.reference import validate_host, validate_repository
from freightliner.domain.rules import TagFilter


class TreeEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registry: str
    prefix: str = Field(default="", description="repository path prefix, e.g. prod/")

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        return validate_host(value)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        try:
            if value:
                validate_repository(value)
        except InvalidInput as exc:
            raise ValueError(exc.detail.replace("repository name", "prefix")) from None
        return value


class SyncSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    source: TreeEndpoint
    destination: TreeEndpoint
    include: list[str] = Field(default_factory=lambda: ["**"], description="repository globs")
    exclude: list[str] = Field(default_factory=list)
    tags: TagFilter = Field(default_factory=TagFilter)
    semver: str | None = Field(default=None, description="a range such as '>=1.2,<2'")
    latest: int | None = Field(default=None, ge=1, description="keep the N last pushed")
    highest: int | None = Field(default=None, ge=1, description="keep the N highest versions")
    platforms: list[str] = Field(default_factory=list)
    referrers: bool = False
    skip_existing: bool = Field(
        default=True,
        description="skip an image whose destination tag already has its digest (two HEADs); "
        "false checks every blob of a present image and uploads the missing ones",
    )
    force: bool = Field(
        default=False,
        description="copy every image again: re-upload blobs and re-put manifests (repair)",
    )
    concurrency: int = Field(default=8, ge=1, le=64)
    compress: Compression | None = Field(
        default=None,
        description="zstd, zstd:LEVEL or {level, min_saving}: transcode layers (new digests)",
    )
    schedule: str | None = Field(
        default=None, description="EventBridge Scheduler expression: rate(...) or cron(...)"
    )

    @field_validator("compress", mode="before")
    @classmethod
    def _compress(cls, value: Any) -> Any:
        return compression_switch(value)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is not None and not _SCHEDULE.fullmatch(value):
            raise ValueError(
                f"invalid schedule {value!r}: use rate(N minutes|hours|days) or "
                "cron(min hour day month weekday year)"
            )
        return value

    @field_validator("semver")
    @classmethod
    def _semver(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                SpecifierSet(value)
            except InvalidSpecifier:
                raise ValueError(f"invalid semver range {value!r}") from None
        return value

    @field_validator("platforms")
    @classmethod
    def _platforms(cls, values: list[str]) -> list[str]:
        return [str(Platform.parse(v)) for v in values]

    @model_validator(mode="after")
    def _not_onto_itself(self) -> SyncSpec:
        if self.source == self.destination:
            raise ValueError("source and destination are the same tree")
        return self

    def verifying(self) -> SyncSpec:
        """This sync as `--verify` runs it: every image the destination has is checked blob
        by blob, and no destination tag is trusted from cached metadata."""
        return self.model_copy(update={"skip_existing": False})

    def relative(self, repository: str) -> str | None:
        """The path below the source prefix, or None when the repository is outside it."""
        prefix = self.source.prefix
        if not prefix:
            return repository
        if repository.startswith(prefix + "/"):
            return repository[len(prefix) + 1 :]
        return None

    def selects(self, repository: str) -> bool:
        rel = self.relative(repository)
        if rel is None:
            return False
        return any(glob_match(p, rel) for p in self.include) and not any(
            glob_match(p, rel) for p in self.exclude
        )

    def destination_repository(self, repository: str) -> str:
        rel = self.relative(repository)
        if rel is None:
            raise InvalidInput(f"{repository} is outside source prefix {self.source.prefix}")
        return f"{self.destination.prefix}/{rel}" if self.destination.prefix else rel

    def filter_tags(self, tags: list[str]) -> list[str]:
        """Tags passing the regexes, the semver range and `highest` (not `latest`, which
        needs push times: see `select`)."""
        kept = [t for t in tags if self.tags.allows(t)]
        if self.semver is None and self.highest is None:
            return sorted(kept)
        versioned = [(v, t) for t in kept if (v := _version(t)) is not None]
        if self.semver is not None:
            spec = SpecifierSet(self.semver)
            versioned = [(v, t) for v, t in versioned if spec.contains(v, prereleases=False)]
        if self.highest is not None:
            versioned = sorted(versioned)[-self.highest :]
        return sorted(t for _, t in versioned)

    def select(self, images: list[TaggedImage]) -> list[TaggedImage]:
        """The images to sync, sorted by tag: filtered, then the `latest` N by push time
        (with `referrers`, cosign-style `sha256-<hex>.*` tags follow their subject instead)."""
        by_tag = {image.tag: image for image in images}
        kept = [by_tag[tag] for tag in self.filter_tags(list(by_tag))]
        if self.referrers:  # companion tags travel with their subject, not on their own
            kept = [image for image in kept if companion_subject(image.tag) is None]
        if self.latest is not None:
            if any(image.pushed_at is None for image in kept):
                raise InvalidInput("`latest` needs push times, and this listing has none")
            newest = sorted(kept, key=lambda i: (i.pushed_at, i.tag))[-self.latest :]
            kept = sorted(newest, key=lambda i: i.tag)
        return kept


_SCHEDULE = re.compile(
    r"rate\(\s*[1-9]\d*\s+(minute|minutes|hour|hours|day|days)\s*\)"
    r"|cron\(\s*\S+(\s+\S+){5}\s*\)"
)


class TaggedImage(BaseModel):
    """A tag as a registry lists it; the digest and push time when the listing has them."""

    model_config = ConfigDict(frozen=True)

    tag: str
    digest: str | None = None
    pushed_at: datetime | None = None


def _version(tag: str) -> Version | None:
    try:
        return Version(tag[1:] if tag[:1] in ("v", "V") else tag)
    except InvalidVersion:
        return None


class SyncFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    syncs: list[SyncSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> SyncFile:
        names = [s.name for s in self.syncs]
        if len(set(names)) != len(names):
            raise ValueError("sync names must be unique")
        return self


def parse_sync_file(text: str, origin: str = "sync file") -> SyncFile:
    return load_document(text, origin, SyncFile)
