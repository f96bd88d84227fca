"""What a tree sync looks at: the selected repositories, their selected images, and for each
image whether it must be copied — the same decisions for `freightliner sync` and the
serverless fan-out.

Listings stream page by page from the registry's control plane (ECR DescribeRepositories and
DescribeImages, Artifact Registry REST) or from the registry itself (`_catalog`, tags list).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from freightliner.domain.errors import FreightlinerError, InvalidInput, NotFound, Where
from freightliner.domain.reference import Reference
from freightliner.domain.sync import SyncSpec, TaggedImage
from freightliner.ports.metadata import MetadataCache
from freightliner.ports.registry import ClientSource, Registry

log = logging.getLogger(__name__)


class ImageDecision(BaseModel):
    action: Literal["copy", "skip"]
    digest: str | None = Field(description="the source digest; None when not needed to decide")
    reason: str
    dest_missing: bool = False  # the destination has no such tag (seen by the HEAD)

    def pinned(self) -> str:
        """The source digest, which `decide` always reads when asked to (`need_digest`)."""
        if self.digest is None:
            raise InvalidInput("decided without the source digest; call decide(need_digest=True)")
        return self.digest


@dataclass
class DestinationKnowledge:
    """What spares destination requests: the destination repository's own listing with
    digests (ECR, Artifact Registry: tag → digest), else the metadata cache's tags verified
    within `ttl` seconds, then the repository's tags list (asked once, when first needed: a
    tag it lacks needs no HEAD). One repository's images use it one after another."""

    listed: Mapping[str, str] | None = None
    cache: MetadataCache | None = None
    ttl: float = 0.0
    list_tags: Callable[[], Iterable[str]] | None = None
    _tags: frozenset[str] | None = field(default=None, init=False)

    def tags(self) -> frozenset[str] | None:
        if self._tags is None and self.list_tags is not None:
            self._tags = frozenset(self.list_tags())
        return self._tags

    @property
    def empty(self) -> bool:
        """The repository had no tag when listed: it likely holds no blob either."""
        return self.listed == {} or self._tags == frozenset()


def tags_or_none(client: Registry, repository: str) -> Iterator[str]:
    """A repository's tags; none where the repository does not exist yet."""
    try:
        yield from client.list_tags(repository)
    except NotFound:
        return


def destination_listing(
    spec: SyncSpec, clients: ClientSource, repository: str
) -> dict[str, str] | None:
    """Tag → digest of a destination repository where its control plane lists digests (one
    listing instead of a HEAD per image; a repository not there yet is empty); None where
    only HEADs tell (plain registries, or a listing the destination refuses or fails)."""
    host = spec.destination.registry
    try:
        listed = clients.repository_admin(host).list_images(host, repository)
        if listed is None:
            return None
        return {image.tag: image.digest for image in listed if image.digest}
    except NotFound:
        return {}
    except FreightlinerError as exc:  # a saving, not a need: HEADs still tell
        log.warning("cannot list %s/%s (%s); checking each image instead", host, repository, exc)
        return None


def destination_knowledge(
    spec: SyncSpec,
    clients: ClientSource,
    repository: str,
    cache: MetadataCache | None,
    ttl: float,
) -> DestinationKnowledge | None:
    """What lets a no-op image cost no destination request, for `freightliner sync` and the
    fan-out alike: the destination repository's listing where its control plane gives
    digests, else the metadata cache's verified tags (within `ttl`) and its tags list. None
    where every image is copied and checked by the copier anyway (force, verify, platforms)."""
    if spec.force or not spec.skip_existing or spec.platforms:
        return None
    listed = destination_listing(spec, clients, repository)
    dest = clients.client(spec.destination.registry)
    return DestinationKnowledge(
        listed,
        cache,
        ttl,
        list_tags=None if listed is not None else lambda: tags_or_none(dest, repository),
    )


def selected_repositories(spec: SyncSpec, clients: ClientSource) -> Iterator[str]:
    """The source tree's repositories this sync selects, streamed page by page."""
    host = spec.source.registry
    listed = clients.repository_admin(host).list_repositories(host, spec.source.prefix)
    for repository in listed if listed is not None else clients.client(host).catalog():
        if spec.selects(repository):
            yield repository


def selected_images(spec: SyncSpec, clients: ClientSource, repository: str) -> list[TaggedImage]:
    """A repository's images this sync selects, sorted by tag.

    `latest: N` orders by push time: the control plane's where it has one (ECR, GAR); on a
    plain registry, the `created` time in each candidate's image config.
    """
    host = spec.source.registry
    listed = clients.repository_admin(host).list_images(host, repository)
    if listed is not None:
        return spec.select(list(listed))
    client = clients.client(host)
    images = [TaggedImage(tag=tag) for tag in client.list_tags(repository)]
    if spec.latest is not None:
        images = [
            _with_created_time(client, repository, tag)
            for tag in spec.filter_tags([i.tag for i in images])
        ]
    return spec.select(images)


def decide(
    spec: SyncSpec,
    clients: ClientSource,
    src: Reference,
    dst: Reference,
    image: TaggedImage,
    *,
    need_digest: bool = True,
    known: DestinationKnowledge | None = None,
) -> ImageDecision:
    """Copy or skip, digest first: the no-op case costs two HEADs (one when the listing gave
    the source digest). Without `need_digest`, an image missing at the destination is copied
    without asking the source for its digest first (the copy reads the manifest anyway).

    With `known`, the destination is not asked: its listing (ECR, GAR), or a tag the cache
    saw verified with the source's digest within the TTL, decides."""
    digest = image.digest

    def source_digest() -> str:
        head = clients.client(src.registry).head_manifest(src.repository, src.identifier)
        if head is None:
            raise NotFound("tag vanished while the tree was synced", _where(src))
        return str(head.digest)

    if spec.force or not spec.skip_existing or spec.platforms:
        # A platform filter changes the digest: the copier compares what it would push.
        reason = "force" if spec.force else "checked by the copy"
        return ImageDecision(action="copy", digest=digest or source_digest(), reason=reason)
    known = known or DestinationKnowledge()
    tag = dst.identifier
    if known.listed is not None:
        present_digest = known.listed.get(tag)
    else:
        cached = (
            known.cache.verified(dst.registry, dst.repository, tag, known.ttl)
            if known.cache
            else None
        )
        if cached is not None:
            digest = digest or source_digest()
            if cached == digest:
                return ImageDecision(
                    action="skip", digest=digest, reason="verified at destination within TTL"
                )
        tags = known.tags()
        head = (
            None
            if tags is not None and tag not in tags
            else clients.client(dst.registry).head_manifest(dst.repository, tag)
        )
        present_digest = str(head.digest) if head else None
    if present_digest is None:
        if digest is None and need_digest:
            digest = source_digest()
        return ImageDecision(
            action="copy", digest=digest, reason="missing at destination", dest_missing=True
        )
    digest = digest or source_digest()
    if present_digest == digest:
        if known.cache is not None and known.listed is None:
            known.cache.mark_verified(dst.registry, dst.repository, tag, digest)
        return ImageDecision(action="skip", digest=digest, reason="same digest at destination")
    return ImageDecision(action="copy", digest=digest, reason="destination has another digest")


def _with_created_time(client: Registry, repository: str, tag: str) -> TaggedImage:
    fetched = client.get_manifest(repository, tag)
    manifest = fetched.manifest
    if manifest.is_index:
        if not manifest.manifests:
            raise InvalidInput(f"{repository}:{tag} is an empty index: it has no push time")
        manifest = client.get_manifest(repository, manifest.manifests[0].digest).manifest
    if manifest.config is None:
        raise InvalidInput(f"{repository}:{tag} has no config: it has no push time")
    config = json.loads(client.get_blob(repository, manifest.config.parsed_digest))
    created = config.get("created") if isinstance(config, dict) else None
    if not isinstance(created, str):
        raise InvalidInput(f"{repository}:{tag} has no creation time to order `latest` by")
    when = datetime.fromisoformat(created.replace("Z", "+00:00"))
    return TaggedImage(tag=tag, digest=str(fetched.digest), pushed_at=when)


def _where(ref: Reference) -> Where:
    return Where(ref.registry, ref.repository, ref.identifier, "sync")
