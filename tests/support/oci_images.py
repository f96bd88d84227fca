"""Small OCI images written through the `Registry` port (any implementation of it).

The in-process engine tests seed the in-memory registry with these; the conformance suite
uses them to hold every implementation to the same answers. Content is deterministic: the
same arguments give the same digests.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from freightliner.domain import mediatypes as mt
from freightliner.domain.digest import Digest
from freightliner.ports.registry import Registry, fallback_tag

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


@dataclass(frozen=True)
class Image:
    """A manifest pushed through the port: its exact bytes and what it refers to."""

    digest: Digest
    media_type: str
    data: bytes
    blobs: list[Digest] = field(default_factory=list)
    children: list[Image] = field(default_factory=list)
    platform: str | None = None

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        desc: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": len(self.data),
            **extra,
        }
        if self.platform:
            os_name, arch, *variant = self.platform.split("/")
            desc["platform"] = {"os": os_name, "architecture": arch}
            if variant:
                desc["platform"]["variant"] = variant[0]
        return desc


def pieces(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def source_of(data: bytes) -> Any:
    """A `BlobSource` over bytes in memory."""

    @contextlib.contextmanager
    def opened() -> Iterator[Iterator[bytes]]:
        yield pieces(data)

    return opened


def push_blob(registry: Registry, repository: str, data: bytes) -> Digest:
    digest = Digest.of(data)
    if registry.head_blob(repository, digest) is None:
        registry.upload_blob(repository, digest, len(data), source_of(data))
    return digest


def layer(seed: int, size: int = 2048) -> bytes:
    """`size` deterministic bytes that differ for every seed."""
    block = f"layer-{seed}:".encode()
    return (block * (size // len(block) + 1))[:size]


def push_image(
    registry: Registry,
    repository: str,
    tag: str | None,
    layers: list[bytes],
    *,
    platform: str = "linux/amd64",
    created: str | None = None,
    docker: bool = False,
    extra: dict[str, Any] | None = None,
) -> Image:
    os_name, arch, *variant = platform.split("/")
    config_doc: dict[str, Any] = {"architecture": arch, "os": os_name, "rootfs": {}}
    if variant:
        config_doc["variant"] = variant[0]
    if created is not None:
        config_doc["created"] = created
    config = json.dumps(config_doc, sort_keys=True).encode()
    blobs = [push_blob(registry, repository, config)]
    blobs += [push_blob(registry, repository, data) for data in layers]
    media_type = mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST
    doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
            "digest": str(blobs[0]),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": DOCKER_LAYER if docker else OCI_LAYER,
                "digest": str(digest),
                "size": len(data),
            }
            for digest, data in zip(blobs[1:], layers, strict=True)
        ],
        **(extra or {}),
    }
    data = json.dumps(doc, indent=2).encode()
    digest = Digest.of(data)
    registry.put_manifest(repository, tag or str(digest), data, media_type)
    return Image(digest, media_type, data, blobs, platform=platform)


def push_index(
    registry: Registry,
    repository: str,
    tag: str | None,
    children: list[Image],
    *,
    docker: bool = False,
) -> Image:
    media_type = mt.DOCKER_LIST if docker else mt.OCI_INDEX
    doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [child.descriptor() for child in children],
    }
    data = json.dumps(doc, indent=2).encode()
    digest = Digest.of(data)
    registry.put_manifest(repository, tag or str(digest), data, media_type)
    return Image(digest, media_type, data, children=children)


def push_multi_platform(
    registry: Registry,
    repository: str,
    tag: str | None,
    platforms: tuple[str, ...] = ("linux/amd64", "linux/arm64", "linux/arm/v7"),
    seed: int = 0,
) -> Image:
    children = [
        push_image(
            registry,
            repository,
            None,
            [layer(seed * 100 + n * 10), layer(seed * 100 + n * 10 + 1)],
            platform=platform,
        )
        for n, platform in enumerate(platforms)
    ]
    return push_index(registry, repository, tag, children)


def push_referrer(
    registry: Registry,
    repository: str,
    subject: Image,
    artifact_type: str,
    payload: bytes,
) -> Image:
    """An artifact whose subject is `subject`; where the registry does not index it itself
    (no referrers API), it is listed in the `sha256-<hex>` tag index, as clients do."""
    empty = push_blob(registry, repository, b"{}")
    body = push_blob(registry, repository, payload)
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": mt.OCI_EMPTY, "digest": str(empty), "size": 2},
        "layers": [
            {"mediaType": "application/octet-stream", "digest": str(body), "size": len(payload)}
        ],
        "subject": {k: v for k, v in subject.descriptor().items() if k != "platform"},
    }
    data = json.dumps(doc, indent=2).encode()
    digest = Digest.of(data)
    pushed = registry.put_manifest(repository, str(digest), data, mt.OCI_MANIFEST)
    image = Image(digest, mt.OCI_MANIFEST, data, [empty, body])
    if not pushed.subject_accepted:
        current = registry.referrers_tag(repository, subject.digest)
        listed = json.loads(current.data)["manifests"] if current else []
        listed.append(image.descriptor(artifactType=artifact_type))
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": listed}
        registry.put_manifest(
            repository,
            fallback_tag(subject.digest),
            json.dumps(index).encode(),
            mt.OCI_INDEX,
        )
    return image
