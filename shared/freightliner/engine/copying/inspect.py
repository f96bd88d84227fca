"""`inspect`: what an image reference points at, without pulling any layer."""

from __future__ import annotations

from pydantic import BaseModel, Field

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
