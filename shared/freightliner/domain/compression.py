"""Layer compression: what `--compress zstd[:LEVEL]` asks for, and the manifests it writes.

Transcoding a layer to zstd gives it a new digest, so the image manifest (and any index
above it) is rewritten: layers get the OCI `+zstd` media type, a Docker-schema manifest
becomes an OCI manifest (Docker media types have no zstd layer), the config keeps its bytes
and its diff_ids. Every rewritten manifest carries the digest it was made from in an
annotation, so a later sync recognises the destination's copy as up to date.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from freightliner.domain import mediatypes as mt
from freightliner.domain.digest import Digest

COMPRESSED_FROM = "dev.freightliner.compressed-from"
"""Annotation on a transcoded manifest: the digest of the manifest it was transcoded from."""

BUILDKIT_REFERENCE = "vnd.docker.reference.digest"
"""Annotation of an attestation entry in an index: the image manifest it describes."""

TRANSCODABLE = {
    mt.OCI_LAYER_GZIP: True,  # gzipped
    mt.DOCKER_LAYER_GZIP: True,
    mt.OCI_LAYER: False,  # plain tar
    mt.DOCKER_LAYER: False,
}
"""Layer media types zstd may replace, and whether their bytes are gzipped."""

_OCI_EQUIVALENT = {
    mt.DOCKER_MANIFEST: mt.OCI_MANIFEST,
    mt.DOCKER_LIST: mt.OCI_INDEX,
    mt.DOCKER_CONFIG: mt.OCI_CONFIG,
    mt.DOCKER_LAYER: mt.OCI_LAYER,
    mt.DOCKER_LAYER_GZIP: mt.OCI_LAYER_GZIP,
    mt.DOCKER_FOREIGN_GZIP: mt.OCI_FOREIGN_GZIP,
}


class Compression(BaseModel):
    """Transcode layers to zstd at `level`, keeping a layer that saves less than
    `min_saving` of its size. Written `zstd`, `zstd:LEVEL` or as a mapping.

    The default level is 9: against the gzip-6 layers registries usually serve, zstd 3
    saves about 5% (under the default bar, so layers would be kept), 9 about 12-14%, 19
    about 20-24% at a twentieth of 9's speed (bench/compression.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithm: str = Field(default="zstd", pattern="^zstd$")
    level: int = Field(default=9, ge=1, le=19, description="1 fast … 19 small")
    min_saving: float = Field(
        default=0.10, ge=0.0, lt=1.0, description="keep a layer zstd shrinks by less than this"
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        algorithm, colon, level = value.strip().partition(":")
        if colon and not level.isdigit():
            raise ValueError(f"invalid compression {value!r}: expected zstd or zstd:LEVEL")
        return {"algorithm": algorithm, **({"level": int(level)} if level else {})}

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.level}"

    def keeps(self, source_size: int, compressed_size: int) -> bool:
        """Whether the original layer stays: zstd did not save `min_saving` of it."""
        return compressed_size > source_size * (1.0 - self.min_saving)

    def give_up_above(self, source_size: int) -> int:
        """Output size past which transcoding can stop: the layer will be kept anyway."""
        return int(source_size * (1.0 - self.min_saving))


def compression_switch(value: Any) -> Any:
    """A document's `compress:`: `true` is zstd at its default level, `false` none."""
    if value is True:
        return {}
    return None if value is False else value


def oci_media_type(media_type: str) -> str:
    """The OCI name of a Docker media type (others unchanged)."""
    return _OCI_EQUIVALENT.get(media_type, media_type)


def compressed_from(raw: dict[str, Any]) -> str | None:
    """The source digest a transcoded manifest records, if it is one."""
    annotations = raw.get("annotations")
    value = annotations.get(COMPRESSED_FROM) if isinstance(annotations, dict) else None
    return value if isinstance(value, str) else None


def rewrite_image(
    raw: dict[str, Any], replaced: dict[int, tuple[Digest, int]], source: Digest
) -> bytes:
    """An image manifest whose layers at the given positions are replaced by zstd blobs
    (digest, size); the rest of the document (config bytes, annotations) is kept, in OCI
    media types."""
    doc = json.loads(json.dumps(raw))  # a deep copy of plain JSON
    doc["mediaType"] = mt.OCI_MANIFEST
    doc["config"]["mediaType"] = oci_media_type(doc["config"]["mediaType"])
    for position, layer in enumerate(doc["layers"]):
        if position in replaced:
            digest, size = replaced[position]
            layer.update(mediaType=mt.OCI_LAYER_ZSTD, digest=str(digest), size=size)
        else:
            layer["mediaType"] = oci_media_type(layer["mediaType"])
    doc["annotations"] = {**doc.get("annotations", {}), COMPRESSED_FROM: str(source)}
    return json.dumps(doc, separators=(",", ":")).encode()


def rewrite_index(
    raw: dict[str, Any], replaced: dict[str, tuple[Digest, int]], source: Digest
) -> bytes:
    """An index whose child manifests with old digests in `replaced` point at their
    transcoded versions (OCI image manifests), attestation entries following them."""
    doc = json.loads(json.dumps(raw))
    doc["mediaType"] = mt.OCI_INDEX
    for entry in doc["manifests"]:
        new = replaced.get(entry["digest"])
        if new is not None:
            entry.update(mediaType=mt.OCI_MANIFEST, digest=str(new[0]), size=new[1])
        else:
            entry["mediaType"] = oci_media_type(entry["mediaType"])
        annotations = entry.get("annotations") or {}
        described = replaced.get(annotations.get(BUILDKIT_REFERENCE, ""))
        if described is not None:
            annotations[BUILDKIT_REFERENCE] = str(described[0])
    doc["annotations"] = {**doc.get("annotations", {}), COMPRESSED_FROM: str(source)}
    return json.dumps(doc, separators=(",", ":")).encode()
