"""Repository metadata for `ls` and `refresh`: every tag with digest, media type, platforms,
size and push time, from the metadata cache while its listing is younger than the TTL, else
listed again and stored.

A control plane that describes images (ECR, Artifact Registry) is read in listing calls;
any other registry through its tags list and one manifest request per tag (`tags`: a HEAD;
`images`: the manifest, the config of an image for its platform and creation time, and the
children of an index for their sizes).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from freightliner.domain import mediatypes as mt
from freightliner.domain.errors import FreightlinerError, NotFound
from freightliner.domain.manifest import Manifest
from freightliner.domain.metadata import ImageRecord, ListingDepth, RepositoryListing
from freightliner.ports.metadata import MetadataCache, RepositoryMetadata
from freightliner.ports.registry import ClientSource, Registry

PARALLEL_REQUESTS = 8
_CONFIG_TYPES = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
CONFIG_LIMIT = 1024 * 1024


def repository_listing(
    clients: ClientSource,
    registry: str,
    repository: str,
    *,
    depth: ListingDepth = "images",
    cache: MetadataCache | None = None,
    ttl: float = 0.0,
    refresh: bool = False,
) -> RepositoryListing:
    """The repository's tags as cached within `ttl`, or listed now (`refresh`: always)."""
    now = time.time()
    if cache is not None and not refresh:
        cached = cache.listing(registry, repository)
        if cached is not None and cached.fresh(now, ttl, depth):
            return cached
    images = sorted(_describe(clients, registry, repository, depth), key=lambda i: i.tag)
    listing = RepositoryListing(
        registry=registry, repository=repository, depth=depth, listed_at=now, images=images
    )
    if cache is not None:
        cache.store_listing(listing)
        # what was just seen at the registry is verified: a sync to it needs not ask again
        for image in images:
            cache.mark_verified(registry, repository, image.tag, image.digest)
    return listing


def _describe(
    clients: ClientSource, registry: str, repository: str, depth: ListingDepth
) -> list[ImageRecord]:
    admin = clients.repository_admin(registry)
    if isinstance(admin, RepositoryMetadata):
        return list(admin.describe_images(registry, repository, depth))
    client = clients.client(registry)
    tags = list(client.list_tags(repository))
    describe = _described if depth == "images" else _headed
    with ThreadPoolExecutor(PARALLEL_REQUESTS, thread_name_prefix="ls") as pool:
        found = list(pool.map(lambda tag: describe(client, repository, tag), tags))
    return [image for image in found if image is not None]


def _headed(client: Registry, repository: str, tag: str) -> ImageRecord | None:
    head = client.head_manifest(repository, tag)
    if head is None:
        return None  # deleted while listed
    return ImageRecord(tag=tag, digest=str(head.digest), media_type=head.media_type)


def _described(client: Registry, repository: str, tag: str) -> ImageRecord | None:
    try:
        fetched = client.get_manifest(repository, tag)
    except NotFound:
        return None
    manifest = fetched.manifest
    size = len(fetched.data)
    platforms: list[str] = []
    pushed_at: datetime | None = None
    if manifest.is_index:
        for child in manifest.manifests:
            if child.platform is not None:
                spec = child.platform
                platforms.append(_platform(spec.os, spec.architecture, spec.variant))
            size += child.size
            if child.media_type in mt.IMAGE_TYPES:
                size += _content_size(client.get_manifest(repository, child.digest).manifest)
    else:
        size += _content_size(manifest)
        platform, pushed_at = _config_facts(client, repository, manifest)
        platforms = [platform] if platform else []
    return ImageRecord(
        tag=tag,
        digest=str(fetched.digest),
        media_type=fetched.media_type,
        platforms=platforms,
        size=size,
        pushed_at=pushed_at,
    )


def _content_size(manifest: Manifest) -> int:
    return sum(blob.size for blob in manifest.blobs())


def _config_facts(
    client: Registry, repository: str, manifest: Manifest
) -> tuple[str | None, datetime | None]:
    """The platform and creation time an image's config names, when it is an image config."""
    config = manifest.config
    if config is None or config.media_type not in _CONFIG_TYPES:
        return None, None
    try:
        doc = json.loads(client.get_blob(repository, config.parsed_digest, CONFIG_LIMIT))
    except (FreightlinerError, ValueError):
        return None, None  # the listing still shows what the manifest told
    if not isinstance(doc, dict):
        return None, None
    os_name, arch, variant = doc.get("os"), doc.get("architecture"), doc.get("variant")
    platform = None
    if isinstance(os_name, str) and isinstance(arch, str):
        platform = _platform(os_name, arch, variant if isinstance(variant, str) else None)
    created = doc.get("created")
    when = None
    if isinstance(created, str):
        try:
            when = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            when = None
    return platform, when


def _platform(os_name: str, architecture: str, variant: str | None) -> str:
    return f"{os_name}/{architecture}" + (f"/{variant}" if variant else "")
