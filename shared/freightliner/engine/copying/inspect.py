"""`inspect`: what an image reference points at, without pulling any layer."""

from __future__ import annotations

from pydantic import BaseModel, Field

from freightliner.domain.errors import NotFound, Where
from freightliner.domain.platform import Platform
from freightliner.domain.reference import Reference
from freightliner.ports.registry import FetchedManifest, Registry


class PlatformSummary(BaseModel):
    platform: str
    digest: str
    media_type: str
    size: int


class ImageSummary(BaseModel):
    reference: str
    media_type: str
    digest: str
    size: int = Field(description="manifest, config and layer bytes, every platform included")
    platforms: list[PlatformSummary] = Field(default_factory=list)


def _image_size(fetched: FetchedManifest) -> int:
    return len(fetched.data) + sum(blob.size for blob in fetched.manifest.blobs())


def inspect_image(client: Registry, ref: Reference) -> ImageSummary:
    top = client.get_manifest(ref.repository, ref.identifier)
    summary = ImageSummary(
        reference=str(ref), media_type=top.media_type, digest=str(top.digest), size=0
    )
    if not top.manifest.is_index:
        summary.size = _image_size(top)
        return summary
    total = len(top.data)
    pending = list(top.manifest.manifests)
    while pending:
        desc = pending.pop(0)
        child = client.get_manifest(ref.repository, desc.digest)
        if child.manifest.is_index:
            total += len(child.data)
            pending.extend(child.manifest.manifests)
            continue
        size = _image_size(child)
        total += size
        platform = desc.platform
        name = "unknown"
        if platform is not None:
            name = f"{platform.os}/{platform.architecture}" + (
                f"/{platform.variant}" if platform.variant else ""
            )
        summary.platforms.append(
            PlatformSummary(
                platform=name, digest=desc.digest, media_type=desc.media_type, size=size
            )
        )
    summary.size = total
    return summary


def resolve_platform(client: Registry, ref: Reference, platform: Platform) -> FetchedManifest:
    """The image manifest `ref` names: itself, or its index's entry for `platform` (nested
    indexes followed)."""
    fetched = client.get_manifest(ref.repository, ref.identifier)
    seen: set[str] = {str(fetched.digest)}
    while fetched.manifest.is_index:
        entry = next(
            (
                d
                for d in fetched.manifest.manifests
                if d.platform is not None
                and platform.matches(d.platform.os, d.platform.architecture, d.platform.variant)
            ),
            None,
        )
        if entry is None:
            nested = [d for d in fetched.manifest.manifests if d.platform is None]
            entry = nested[0] if nested else None
        if entry is None or entry.digest in seen:
            raise NotFound(
                f"no manifest for {platform} in the index",
                Where(ref.registry, ref.repository, ref.identifier, "resolve platform"),
            )
        seen.add(entry.digest)
        fetched = client.get_manifest(ref.repository, entry.digest)
    return fetched


def config_blob(client: Registry, ref: Reference, platform: Platform) -> bytes:
    """The image config (verified against its digest) of `ref`, for `platform` in an index."""
    image = resolve_platform(client, ref, platform)
    config = image.manifest.config
    assert config is not None  # parse_manifest refuses an image manifest without one
    return client.get_blob(ref.repository, config.parsed_digest)
