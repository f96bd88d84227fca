"""ECR repositories: created before the first push, and their tag mutability reported."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.ecr_auth import EcrClientFactory
from freightliner.adapters.aws.errors import aws_error
from freightliner.domain.errors import InvalidInput, Where
from freightliner.domain.reference import ecr_host
from freightliner.domain.sync import TaggedImage
from freightliner.ports.repositories import RepositoryInfo

_IMMUTABLE = {"IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"}


class EcrRepositoryAdmin:
    def __init__(
        self,
        client_factory: EcrClientFactory,
        targets: Mapping[str, tuple[str, str]] | None = None,
        tag_mutability: str = "MUTABLE",
        scan_on_push: bool = False,
    ) -> None:
        self._factory = client_factory
        self._targets = dict(targets or {})
        self._mutability = tag_mutability
        self._scan_on_push = scan_on_push
        self._known: dict[tuple[str, str], RepositoryInfo] = {}
        self._lock = threading.Lock()

    def _registry(self, host: str) -> tuple[str, str]:
        if host in self._targets:
            return self._targets[host]
        parsed = ecr_host(host)
        if parsed is None:
            raise InvalidInput(f"{host} is not an ECR registry host")
        return parsed.account, parsed.region

    def ensure_repository(self, registry: str, repository: str) -> RepositoryInfo:
        key = (registry, repository)
        with self._lock:
            if key in self._known:
                return self._known[key]
        registry_id, region = self._registry(registry)
        client = self._factory(region)
        where = Where(registry, repository, operation="ecr:DescribeRepositories")
        info = self._describe(client, registry_id, repository, where)
        if info is None:
            where = Where(registry, repository, operation="ecr:CreateRepository")
            try:
                created = client.create_repository(
                    registryId=registry_id,
                    repositoryName=repository,
                    imageTagMutability=self._mutability,
                    imageScanningConfiguration={"scanOnPush": self._scan_on_push},
                )["repository"]
                info = RepositoryInfo(
                    tags_immutable=created.get("imageTagMutability") in _IMMUTABLE, created=True
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "RepositoryAlreadyExistsException":
                    raise aws_error(exc, where) from None
                info = self._describe(client, registry_id, repository, where)  # lost a race
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

    def _repository_pages(self, registry: str, prefix: str) -> Iterator[str]:
        registry_id, region = self._registry(registry)
        where = Where(registry, operation="ecr:DescribeRepositories")
        for page in self._pages(region, "describe_repositories", where, registryId=registry_id):
            for repository in page.get("repositories", []):
                name = repository["repositoryName"]
                if not prefix or name.startswith(prefix.rstrip("/") + "/"):
                    yield name

    def _image_pages(self, registry: str, repository: str) -> Iterator[TaggedImage]:
        registry_id, region = self._registry(registry)
        where = Where(registry, repository, operation="ecr:DescribeImages")
        for page in self._pages(
            region,
            "describe_images",
            where,
            registryId=registry_id,
            repositoryName=repository,
            filter={"tagStatus": "TAGGED"},
        ):
            for image in page.get("imageDetails", []):
                for tag in image.get("imageTags", []):
                    yield TaggedImage(
                        tag=tag, digest=image["imageDigest"], pushed_at=image.get("imagePushedAt")
                    )

    def _pages(self, region: str, operation: str, where: Where, **kwargs: Any) -> Iterator[Any]:
        paginator = self._factory(region).get_paginator(operation)
        try:
            yield from paginator.paginate(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise aws_error(exc, where) from None

    @staticmethod
    def _describe(
        client: object, registry_id: str, repository: str, where: Where
    ) -> RepositoryInfo | None:
        try:
            found = client.describe_repositories(  # type: ignore[attr-defined]
                registryId=registry_id, repositoryNames=[repository]
            )["repositories"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "RepositoryNotFoundException":
                return None
            raise aws_error(exc, where) from None
        except BotoCoreError as exc:
            raise aws_error(exc, where) from None
        if not found:
            return None
        return RepositoryInfo(tags_immutable=found[0].get("imageTagMutability") in _IMMUTABLE)
