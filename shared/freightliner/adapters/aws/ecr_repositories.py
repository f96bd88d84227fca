"""ECR repositories: created before the first push, their tag mutability reported, and
listed for tree syncs (ECR has no `_catalog`)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from operator import methodcaller
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.ecr_auth import EcrTarget, ecr_target
from freightliner.adapters.aws.errors import aws_error, error_code
from freightliner.adapters.aws.sessions import AwsClientSource, with_renewal
from freightliner.domain.errors import InvalidInput, Where
from freightliner.domain.metadata import ImageRecord, ListingDepth
from freightliner.domain.sync import TaggedImage
from freightliner.ports.repositories import RepositoryInfo

_IMMUTABLE = {"IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"}
BATCH = 100  # BatchGetImage's limit of image ids per call
_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


class EcrRepositoryAdmin:
    def __init__(
        self,
        clients: AwsClientSource,
        targets: Mapping[str, EcrTarget] | None = None,
        tag_mutability: str = "MUTABLE",
        scan_on_push: bool = False,
    ) -> None:
        self._clients = clients
        self._targets = dict(targets or {})
        self._mutability = tag_mutability
        self._scan_on_push = scan_on_push
        self._known: dict[tuple[str, str], RepositoryInfo] = {}
        self._lock = threading.Lock()

    def ensure_repository(self, registry: str, repository: str) -> RepositoryInfo:
        key = (registry, repository)
        with self._lock:
            if key in self._known:
                return self._known[key]
        target = ecr_target(registry, self._targets)
        where = Where(registry, repository, operation="ecr:DescribeRepositories")
        info = self._describe(target, repository, where)
        if info is None:
            where = Where(registry, repository, operation="ecr:CreateRepository")
            try:
                created = self._call(
                    target,
                    lambda ecr: ecr.create_repository(
                        registryId=target.registry_id,
                        repositoryName=repository,
                        imageTagMutability=self._mutability,
                        imageScanningConfiguration={"scanOnPush": self._scan_on_push},
                    ),
                )["repository"]
                info = RepositoryInfo(
                    tags_immutable=created.get("imageTagMutability") in _IMMUTABLE, created=True
                )
            except ClientError as exc:
                if error_code(exc) != "RepositoryAlreadyExistsException":
                    raise aws_error(exc, where) from None
                info = self._describe(target, repository, where)  # lost a race
            except BotoCoreError as exc:
                raise aws_error(exc, where) from None
        if info is None:
            raise InvalidInput("repository vanished while it was being created", where)
        with self._lock:
            self._known[key] = info
        return info

    def list_repositories(self, registry: str, prefix: str) -> Iterator[str] | None:
        """DescribeRepositories, paginated: ECR has no `_catalog`."""
        return self._repository_pages(registry, prefix)

    def list_images(self, registry: str, repository: str) -> Iterator[TaggedImage] | None:
        """DescribeImages, paginated: tags with their digest and push time."""
        return self._image_pages(registry, repository)

    def describe_images(
        self, registry: str, repository: str, depth: ListingDepth
    ) -> Iterator[ImageRecord]:
        """DescribeImages pages (digest, media type, size, push time per tag); for `images`,
        the platforms of indexes from BatchGetImage, 100 digests a call."""
        records = [
            ImageRecord(
                tag=tag,
                digest=image["imageDigest"],
                media_type=image.get("imageManifestMediaType", ""),
                size=image.get("imageSizeInBytes"),
                pushed_at=image.get("imagePushedAt"),
            )
            for image in self._described(registry, repository)
            for tag in image.get("imageTags", [])
        ]
        if depth == "images":
            indexes = sorted({r.digest for r in records if r.media_type in _INDEX_TYPES})
            platforms = self._index_platforms(registry, repository, indexes)
            records = [
                r.model_copy(update={"platforms": platforms.get(r.digest, [])}) for r in records
            ]
        return iter(records)

    def _described(self, registry: str, repository: str) -> Iterator[dict[str, Any]]:
        target = ecr_target(registry, self._targets)
        where = Where(registry, repository, operation="ecr:DescribeImages")
        for page in self._pages(
            target,
            "describe_images",
            where,
            registryId=target.registry_id,
            repositoryName=repository,
            filter={"tagStatus": "TAGGED"},
        ):
            yield from page.get("imageDetails", [])

    def _index_platforms(
        self, registry: str, repository: str, digests: list[str]
    ) -> dict[str, list[str]]:
        target = ecr_target(registry, self._targets)
        where = Where(registry, repository, operation="ecr:BatchGetImage")
        found: dict[str, list[str]] = {}
        for start in range(0, len(digests), BATCH):
            ask = methodcaller(
                "batch_get_image",
                registryId=target.registry_id,
                repositoryName=repository,
                imageIds=[{"imageDigest": d} for d in digests[start : start + BATCH]],
                acceptedMediaTypes=list(_INDEX_TYPES),
            )
            try:
                answer = self._call(target, ask)
            except (ClientError, BotoCoreError) as exc:
                raise aws_error(exc, where) from None
            for image in answer.get("images", []):
                found[image["imageId"]["imageDigest"]] = _platforms(image.get("imageManifest"))
        return found

    def _repository_pages(self, registry: str, prefix: str) -> Iterator[str]:
        target = ecr_target(registry, self._targets)
        where = Where(registry, operation="ecr:DescribeRepositories")
        for page in self._pages(
            target, "describe_repositories", where, registryId=target.registry_id
        ):
            for repository in page.get("repositories", []):
                name = repository["repositoryName"]
                if not prefix or name.startswith(prefix.rstrip("/") + "/"):
                    yield name

    def _image_pages(self, registry: str, repository: str) -> Iterator[TaggedImage]:
        for image in self._described(registry, repository):
            for tag in image.get("imageTags", []):
                yield TaggedImage(
                    tag=tag, digest=image["imageDigest"], pushed_at=image.get("imagePushedAt")
                )

    def _pages(
        self, target: EcrTarget, operation: str, where: Where, **params: Any
    ) -> Iterator[dict[str, Any]]:
        """Page by page with `nextToken`; credentials that expire mid-listing are renewed
        once and the same page is asked for again, not the first one."""
        token: str | None = None
        while True:
            ask = methodcaller(operation, **params, **({"nextToken": token} if token else {}))
            try:
                page: dict[str, Any] = self._call(target, ask)
            except (ClientError, BotoCoreError) as exc:
                raise aws_error(exc, where) from None
            yield page
            token = page.get("nextToken")
            if not token:
                return

    def _call(self, target: EcrTarget, call: Callable[[Any], Any]) -> Any:
        return with_renewal(self._clients, "ecr", target.region, target.role_arn, call)

    def _describe(self, target: EcrTarget, repository: str, where: Where) -> RepositoryInfo | None:
        try:
            found = self._call(
                target,
                lambda ecr: ecr.describe_repositories(
                    registryId=target.registry_id, repositoryNames=[repository]
                ),
            )["repositories"]
        except ClientError as exc:
            if error_code(exc) == "RepositoryNotFoundException":
                return None
            raise aws_error(exc, where) from None
        except BotoCoreError as exc:
            raise aws_error(exc, where) from None
        if not found:
            return None
        return RepositoryInfo(tags_immutable=found[0].get("imageTagMutability") in _IMMUTABLE)


def _platforms(manifest: str | None) -> list[str]:
    """`os/arch[/variant]` of an index's entries (an unreadable document names none)."""
    try:
        doc = json.loads(manifest or "")
    except ValueError:
        return []
    entries = doc.get("manifests") if isinstance(doc, dict) else None
    platforms = []
    for entry in entries if isinstance(entries, list) else []:
        platform = entry.get("platform") if isinstance(entry, dict) else None
        if isinstance(platform, dict) and platform.get("os") and platform.get("architecture"):
            variant = platform.get("variant")
            platforms.append(
                f"{platform['os']}/{platform['architecture']}" + (f"/{variant}" if variant else "")
            )
    return platforms
