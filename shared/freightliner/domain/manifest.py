"""Manifest documents as pydantic models, parsed from the exact bytes a registry served.

The bytes stay the source of truth (copies are byte for byte); the model only tells what a
manifest refers to.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from freightliner.domain import mediatypes as mt
from freightliner.domain.digest import Digest
from freightliner.domain.errors import InvalidInput, Unsupported, Where


class PlatformSpec(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    architecture: str
    os: str
    variant: str | None = None
    os_version: str | None = Field(default=None, alias="os.version")


class Descriptor(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    media_type: str = Field(alias="mediaType")
    digest: str
    size: int = Field(ge=0)
    platform: PlatformSpec | None = None
    annotations: dict[str, str] | None = None
    artifact_type: str | None = Field(default=None, alias="artifactType")
    urls: list[str] | None = None

    @property
    def parsed_digest(self) -> Digest:
        return Digest.parse(self.digest)


class Manifest(BaseModel):
    """An image manifest or an index; `manifests` is set for indexes, `layers` for images."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    schema_version: int = Field(alias="schemaVersion")
    media_type: str = Field(default="", alias="mediaType")
    config: Descriptor | None = None
    layers: list[Descriptor] = Field(default_factory=list)
    manifests: list[Descriptor] = Field(default_factory=list)
    subject: Descriptor | None = None
    artifact_type: str | None = Field(default=None, alias="artifactType")
    annotations: dict[str, str] | None = None

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEX_TYPES

    def blobs(self) -> list[Descriptor]:
        """Config then layers: the blobs an image manifest needs before it can be pushed."""
        return ([self.config] if self.config else []) + list(self.layers)


def parse_manifest(data: bytes, content_type: str | None, where: Where | None = None) -> Manifest:
    """Parse manifest bytes, deciding the media type from the document, then the header."""
    header_type = (content_type or "").split(";", 1)[0].strip()
    if header_type in mt.SCHEMA1_TYPES:
        raise Unsupported(
            "Docker schema 1 manifests are not supported (deprecated, unsigned digests); "
            "re-push the image with a current client",
            where,
        )
    try:
        raw: Any = json.loads(data)
    except ValueError as exc:
        raise InvalidInput(f"manifest is not valid JSON: {exc}", where) from None
    if not isinstance(raw, dict):
        raise InvalidInput("manifest is not a JSON object", where)
    if raw.get("schemaVersion") == 1:
        raise Unsupported(
            "Docker schema 1 manifests are not supported (deprecated, unsigned digests); "
            "re-push the image with a current client",
            where,
        )
    media_type = raw.get("mediaType") or header_type
    if not media_type or media_type == "application/json":
        media_type = mt.OCI_INDEX if "manifests" in raw else mt.OCI_MANIFEST
    if media_type not in mt.MANIFEST_TYPES:
        raise Unsupported(f"unknown manifest media type {media_type!r}", where)
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"malformed manifest at {loc}: {first['msg']}", where) from None
    manifest.media_type = media_type
    if manifest.is_index and manifest.layers:
        raise InvalidInput("an index must not list layers", where)
    if not manifest.is_index and manifest.config is None:
        raise InvalidInput("an image manifest must name its config blob", where)
    return manifest
