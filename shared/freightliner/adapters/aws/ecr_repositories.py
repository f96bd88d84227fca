"""ECR repositories: created before the first push, and their tag mutability reported."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.ecr_registry import EcrClientFactory, EcrTargets, ecr_registry
from freightliner.adapters.aws.errors import aws_error
from freightliner.domain.errors import InvalidInput, Where
from freightliner.ports.repositories import RepositoryInfo

_IMMUTABLE = {"IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"}


class EcrRepositoryAdmin:
    def __init__(
        self,
        client_factory: EcrClientFactory,
        targets: EcrTargets | None = None,
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
        return ecr_registry(host, self._targets)

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

    def list_repositories(self, registry: str) -> Iterator[str] | None:
        """DescribeRepositories, paginated: ECR has no `_catalog`."""
        return self._repository_pages(registry)

    def _repository_pages(self, registry: str) -> Iterator[str]:
        registry_id, region = self._registry(registry)
        where = Where(registry, operation="ecr:DescribeRepositories")
        paginator = self._factory(region).get_paginator("describe_repositories")
        try:
            for page in paginator.paginate(registryId=registry_id):
                for repository in page.get("repositories", []):
                    yield repository["repositoryName"]
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
