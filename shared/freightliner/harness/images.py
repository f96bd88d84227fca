"""Test images built from deterministic random bytes and pushed with plain httpx.

This seeding path is deliberately independent of freightliner's registry client, so tests
check the client against something it did not write. Large layers are generated and streamed
in 1 MiB chunks: memory stays flat whatever the size.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
CHUNK = 1024 * 1024
DEFAULT_PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7")


@dataclass(frozen=True)
class RandomBlob:
    """`size` pseudo-random bytes from `seed`, regenerated on demand instead of stored."""

    seed: int
    size: int

    def chunks(self) -> Iterator[bytes]:
        rng = random.Random(self.seed)
        remaining = self.size
        while remaining > 0:
            count = min(CHUNK, remaining)
            yield rng.randbytes(count)
            remaining -= count

    def digest(self) -> str:
        hasher = hashlib.sha256()
        for chunk in self.chunks():
            hasher.update(chunk)
        return f"sha256:{hasher.hexdigest()}"


@dataclass
class Pushed:
    """A pushed manifest: its digest, exact bytes, and what it refers to."""

    digest: str
    media_type: str
    data: bytes
    size: int  # manifest + config + layers (all children for an index)
    blobs: list[str] = field(default_factory=list)
    children: list[Pushed] = field(default_factory=list)
    platform: str | None = None

    def descriptor(self) -> dict[str, Any]:
        desc: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
        }
        if self.platform:
            parts = self.platform.split("/")
            desc["platform"] = {"os": parts[0], "architecture": parts[1]}
            if len(parts) > 2:
                desc["platform"]["variant"] = parts[2]
        return desc


class Pusher:
    """Pushes blobs and manifests to one registry over plain HTTP(S)."""

    def __init__(self, url: str, auth: tuple[str, str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.client = httpx.Client(auth=auth, timeout=300.0)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Pusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def blob(self, repository: str, content: bytes | RandomBlob) -> tuple[str, int]:
        if isinstance(content, bytes):
            digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
            size = len(content)
            body: bytes | Iterator[bytes] = content
        else:
            digest, size, body = content.digest(), content.size, content.chunks()
        head = self.client.head(f"{self.url}/v2/{repository}/blobs/{digest}")
        if head.status_code == 200:
            return digest, size
        started = self.client.post(f"{self.url}/v2/{repository}/blobs/uploads/")
        started.raise_for_status()
        location = httpx.URL(self.url).join(started.headers["Location"])
        done = self.client.put(
            location.copy_merge_params({"digest": digest}),
            content=body,
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )
        if done.status_code != 201:
            raise RuntimeError(f"blob upload failed: {done.status_code} {done.text}")
        return digest, size

    def manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> str:
        response = self.client.put(
            f"{self.url}/v2/{repository}/manifests/{reference}",
            content=data,
            headers={"Content-Type": media_type},
        )
        if response.status_code != 201:
            raise RuntimeError(f"manifest push failed: {response.status_code} {response.text}")
        return f"sha256:{hashlib.sha256(data).hexdigest()}"

    def image(
        self,
        repository: str,
        tag: str | None,
        layers: list[bytes | RandomBlob],
        *,
        docker: bool = False,
        platform: str = "linux/amd64",
        extra: dict[str, Any] | None = None,
        created: str | None = None,
    ) -> Pushed:
        """An image manifest with a config naming `platform` (and its `created` time, if
        given); pushed by tag or digest."""
        os_name, arch, *variant = platform.split("/")
        config_doc: dict[str, Any] = {
            "architecture": arch,
            "os": os_name,
            "rootfs": {"type": "layers", "diff_ids": []},
        }
        if created is not None:
            config_doc["created"] = created
        if variant:
            config_doc["variant"] = variant[0]
        config = json.dumps(config_doc, sort_keys=True).encode()
        config_digest, config_size = self.blob(repository, config)
        layer_descs = []
        blobs = [config_digest]
        total = config_size
        for layer in layers:
            digest, size = self.blob(repository, layer)
            layer_descs.append(
                {"mediaType": DOCKER_LAYER if docker else OCI_LAYER, "digest": digest, "size": size}
            )
            blobs.append(digest)
            total += size
        media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
        doc: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                "digest": config_digest,
                "size": config_size,
            },
            "layers": layer_descs,
            **(extra or {}),
        }
        data = json.dumps(doc, indent=2).encode()
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        self.manifest(repository, tag or digest, data, media_type)
        return Pushed(digest, media_type, data, total + len(data), blobs, platform=platform)

    def index(
        self,
        repository: str,
        tag: str | None,
        children: list[Pushed],
        *,
        docker: bool = False,
    ) -> Pushed:
        media_type = DOCKER_LIST if docker else OCI_INDEX
        doc = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [child.descriptor() for child in children],
        }
        data = json.dumps(doc, indent=2).encode()
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        self.manifest(repository, tag or digest, data, media_type)
        size = len(data) + sum(child.size for child in children)
        return Pushed(digest, media_type, data, size, children=children)

    def multi_platform(
        self,
        repository: str,
        tag: str | None,
        platforms: tuple[str, ...] = DEFAULT_PLATFORMS,
        layer_sizes: tuple[int, ...] = (64 * 1024, 16 * 1024),
        *,
        docker: bool = False,
        seed: int = 0,
    ) -> Pushed:
        children = [
            self.image(
                repository,
                None,
                [RandomBlob(seed * 1000 + n * 10 + i, size) for i, size in enumerate(layer_sizes)],
                docker=docker,
                platform=platform,
            )
            for n, platform in enumerate(platforms)
        ]
        return self.index(repository, tag, children, docker=docker)

    def referrer(
        self, repository: str, subject: Pushed, artifact_type: str, payload: bytes
    ) -> Pushed:
        """An OCI artifact whose `subject` is `subject`, listed in the `sha256-<hex>` tag
        index as a registry without the referrers API (distribution 2.8) needs."""
        empty_digest, empty_size = self.blob(repository, b"{}")
        layer_digest, layer_size = self.blob(repository, payload)
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": empty_digest,
                "size": empty_size,
            },
            "layers": [
                {
                    "mediaType": "application/octet-stream",
                    "digest": layer_digest,
                    "size": layer_size,
                }
            ],
            "subject": {
                "mediaType": subject.media_type,
                "digest": subject.digest,
                "size": len(subject.data),
            },
        }
        data = json.dumps(doc, indent=2).encode()
        digest = self.manifest(
            repository, f"sha256:{hashlib.sha256(data).hexdigest()}", data, OCI_MANIFEST
        )
        pushed = Pushed(
            digest,
            OCI_MANIFEST,
            data,
            len(data) + empty_size + layer_size,
            [empty_digest, layer_digest],
        )
        tag = "sha256-" + subject.digest.split(":", 1)[1]
        existing = self.client.get(
            f"{self.url}/v2/{repository}/manifests/{tag}", headers={"Accept": OCI_INDEX}
        )
        manifests = existing.json()["manifests"] if existing.status_code == 200 else []
        manifests.append({**pushed.descriptor(), "artifactType": artifact_type})
        index = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}, indent=2
        ).encode()
        self.manifest(repository, tag, index, OCI_INDEX)
        return pushed


COSIGN_SIGNATURE = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"


def cosign_companion(pusher: Pusher, repository: str, subject: Pushed, suffix: str) -> Pushed:
    """What cosign stores by default next to `subject`: a manifest tagged
    `sha256-<hex>.<suffix>` (`sig`: a simple-signing payload; `att`: a DSSE envelope) with the
    signature in a layer annotation, and no `subject` field."""
    payload = json.dumps(
        {"critical": {"image": {"docker-manifest-digest": subject.digest}}, "optional": None}
    ).encode()
    media_type = COSIGN_SIGNATURE if suffix == "sig" else DSSE_ENVELOPE
    config_digest, config_size = pusher.blob(repository, b"{}")
    layer_digest, layer_size = pusher.blob(repository, payload)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [
            {
                "mediaType": media_type,
                "digest": layer_digest,
                "size": layer_size,
                "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQDfake=="},
            }
        ],
    }
    data = json.dumps(doc, indent=2).encode()
    tag = f"sha256-{subject.digest.split(':', 1)[1]}.{suffix}"
    digest = pusher.manifest(repository, tag, data, OCI_MANIFEST)
    return Pushed(
        digest,
        OCI_MANIFEST,
        data,
        len(data) + config_size + layer_size,
        [config_digest, layer_digest],
    )


def seed_demo_image(registry_url: str, repository: str, tag: str) -> Pushed:
    """The demo's image: an OCI index of three platforms, two small layers each."""
    with Pusher(registry_url) as pusher:
        return pusher.multi_platform(repository, tag, layer_sizes=(2 * 1024 * 1024, 256 * 1024))
