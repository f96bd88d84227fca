"""Removing one tag on a registry that deletes manifests by digest only (distribution 2.x).

As `regctl tag delete` does, the tag is first moved to a placeholder manifest of its own (an
empty OCI config and layer, and an annotation with a nonce so its digest is unique), and that
placeholder is deleted by digest: the image the tag pointed at, and its other tags, stay. If
the placeholder cannot be deleted, the tag is put back on the image it held.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from typing import TYPE_CHECKING

from freightliner.domain import mediatypes as mt
from freightliner.domain.digest import Digest
from freightliner.domain.errors import FreightlinerError, InvalidInput, Unsupported, Where

if TYPE_CHECKING:
    from freightliner.registry.client import RegistryClient

log = logging.getLogger(__name__)

EMPTY = b"{}"
EMPTY_DIGEST = Digest.of(EMPTY)
NOBODY = Digest.parse("sha256:" + "0" * 64)
"""A digest no registry holds: deleting it tells whether deletes by digest are allowed."""


def placeholder_manifest() -> bytes:
    """A unique, minimal OCI image manifest that only ever holds a tag for a moment."""
    empty = {"mediaType": mt.OCI_EMPTY, "digest": str(EMPTY_DIGEST), "size": len(EMPTY)}
    document = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": empty,
        "layers": [empty],
        "annotations": {"dev.freightliner.untag-placeholder": secrets.token_hex(16)},
    }
    return json.dumps(document, separators=(",", ":")).encode()


def delete_tag_by_placeholder(
    client: RegistryClient, repository: str, tag: str, where: Where, refused: str
) -> None:
    """Untag through a placeholder; `Unsupported` when the registry deletes nothing at all
    (distribution with deletion disabled answers 405), before anything is written."""
    try:
        client.transport.request(
            "DELETE", f"/v2/{repository}/manifests/{NOBODY}", where, ok=(200, 202), missing_ok=True
        )
    except (InvalidInput, Unsupported) as exc:
        raise Unsupported(
            f"the registry deletes neither a tag alone ({refused}) nor a manifest ({exc.detail})",
            where,
        ) from None
    held = client.get_manifest(repository, tag)
    if client.head_blob(repository, EMPTY_DIGEST) is None:
        client.upload_blob(
            repository,
            EMPTY_DIGEST,
            len(EMPTY),
            lambda: contextlib.nullcontext(iter([EMPTY])),
        )
    placeholder = client.put_manifest(repository, tag, placeholder_manifest(), mt.OCI_MANIFEST)
    try:
        client.delete_manifest(repository, placeholder.digest)
    except FreightlinerError:
        client.put_manifest(repository, tag, held.data, held.media_type)
        log.warning(
            "could not delete the placeholder for %s:%s; the tag is restored", repository, tag
        )
        raise
