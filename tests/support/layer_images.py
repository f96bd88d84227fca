"""Images with real layers (gzipped or plain tar archives) and configs listing their
diff_ids, pushed through the `Registry` port: what zstd transcoding needs to act on."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from typing import Any

import zstandard

from freightliner.domain import mediatypes as mt
from freightliner.domain.digest import Digest
from freightliner.ports.registry import Registry
from tests.support.oci_images import Image, push_blob


def tar_of(files: dict[str, bytes]) -> bytes:
    """A deterministic tar archive holding `files`."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def text_files(seed: int, count: int = 20, size: int = 8_000) -> dict[str, bytes]:
    """Compressible files: lines that repeat in shape but not in content, as source and
    configuration trees do (files repeat each other beyond gzip's 32 kB window)."""
    files = {}
    for n in range(count):
        lines = (
            f"{seed}.{n}.{i}: option_{i % 41} = {(i * i * (n + 1)) % 9973} # pkg{seed}-{i % 37}\n"
            for i in range(size // 40)
        )
        files[f"usr/share/doc/pkg{seed}/file{n}.txt"] = "".join(lines).encode()[:size]
    return files


def push_layered_image(
    registry: Registry,
    repository: str,
    tag: str | None,
    archives: list[bytes],
    *,
    docker: bool = False,
    gzipped: bool = True,
    gzip_level: int = 6,
    platform: str = "linux/amd64",
) -> Image:
    """An image whose layers are `archives` (tar bytes), gzipped unless told otherwise."""
    os_name, arch = platform.split("/")[:2]
    diff_ids = [str(Digest.of(archive)) for archive in archives]
    config_doc: dict[str, Any] = {
        "architecture": arch,
        "os": os_name,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    config = json.dumps(config_doc, sort_keys=True).encode()
    layers = [gzip.compress(a, gzip_level, mtime=0) if gzipped else a for a in archives]
    blobs = [push_blob(registry, repository, config)]
    blobs += [push_blob(registry, repository, data) for data in layers]
    if docker:
        media_type, config_type, layer_type = (
            mt.DOCKER_MANIFEST,
            mt.DOCKER_CONFIG,
            (mt.DOCKER_LAYER_GZIP if gzipped else mt.DOCKER_LAYER),
        )
    else:
        media_type, config_type, layer_type = (
            mt.OCI_MANIFEST,
            mt.OCI_CONFIG,
            (mt.OCI_LAYER_GZIP if gzipped else mt.OCI_LAYER),
        )
    doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": str(blobs[0]), "size": len(config)},
        "layers": [
            {"mediaType": layer_type, "digest": str(digest), "size": len(data)}
            for digest, data in zip(blobs[1:], layers, strict=True)
        ],
    }
    data = json.dumps(doc, indent=2).encode()
    digest = Digest.of(data)
    registry.put_manifest(repository, tag or str(digest), data, media_type)
    return Image(digest, media_type, data, blobs, platform=platform)


def unpacked_layers(registry: Registry, repository: str, reference: str) -> list[Digest]:
    """The sha256 of every layer of an image manifest once decompressed (gzip, zstd or
    none, by media type): what must equal the config's diff_ids."""
    fetched = registry.get_manifest(repository, reference)
    out = []
    for blob in fetched.manifest.layers:
        data = registry.get_blob(repository, blob.parsed_digest, limit=1 << 30)
        if blob.media_type == mt.OCI_LAYER_ZSTD:
            data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
        elif blob.media_type.endswith("gzip"):
            data = gzip.decompress(data)
        out.append(Digest.of(data))
    return out


def config_diff_ids(registry: Registry, repository: str, reference: str) -> list[Digest]:
    fetched = registry.get_manifest(repository, reference)
    assert fetched.manifest.config is not None
    config = json.loads(registry.get_blob(repository, fetched.manifest.config.parsed_digest))
    return [Digest.parse(d) for d in config["rootfs"]["diff_ids"]]
