"""Artifact Registry's control plane (REST v1) for tree syncs: repositories, packages and
versions with their tags and push times, page by page.

A GAR image path is `PROJECT/REPOSITORY/PACKAGE…`; Docker registries have no `_catalog`
there, so enumeration walks the project's Docker repositories and their packages. Calls
carry the same Google access token the registry accepts; a 401 refreshes it once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import httpx

from freightliner.adapters.gcp.google_rest import GoogleRest
from freightliner.domain.errors import InvalidInput, Where
from freightliner.domain.metadata import ImageRecord, ListingDepth
from freightliner.domain.sync import TaggedImage
from freightliner.ports.credentials import CredentialProvider
from freightliner.ports.repositories import RepositoryInfo

API_ENDPOINT = "https://artifactregistry.googleapis.com"
PAGE_SIZE = 1000
ATTEMPTS = 4


class ArtifactRegistryCatalog:
    """The RepositoryAdmin port for one GAR host (`LOCATION-docker.pkg.dev`)."""

    def __init__(
        self,
        host: str,
        location: str,
        credentials: CredentialProvider,
        http: httpx.Client,
        api_endpoint: str = API_ENDPOINT,
    ) -> None:
        self._host = host
        self._location = location
        self._rest = GoogleRest(
            http,
            credentials,
            forbidden_hint="needs artifactregistry repositories/packages/versions list",
            attempts=ATTEMPTS,
        )
        self._api = api_endpoint.rstrip("/")

    def ensure_repository(self, registry: str, repository: str) -> RepositoryInfo:
        return RepositoryInfo()  # packages appear on push; the GAR repository must exist

    def list_repositories(self, registry: str, prefix: str) -> Iterator[str] | None:
        project, _, rest = prefix.partition("/")
        if not project:
            raise InvalidInput(
                f"a tree sync from {registry} needs a source prefix that names the project "
                "(PROJECT or PROJECT/REPOSITORY)"
            )
        return self._repositories(project, rest.split("/", 1)[0], prefix)

    def _repositories(self, project: str, only: str, prefix: str) -> Iterator[str]:
        parent = f"projects/{project}/locations/{self._location}"
        names = [only] if only else self._docker_repositories(parent)
        for name in names:
            for package in self._pages(f"{parent}/repositories/{name}/packages", "packages"):
                path = f"{project}/{name}/{unquote(package['name'].rsplit('/', 1)[1])}"
                if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                    yield path

    def _docker_repositories(self, parent: str) -> Iterator[str]:
        for repository in self._pages(f"{parent}/repositories", "repositories"):
            if repository.get("format") == "DOCKER":
                yield repository["name"].rsplit("/", 1)[1]

    def list_images(self, registry: str, repository: str) -> Iterator[TaggedImage] | None:
        parts = repository.split("/", 2)
        if len(parts) < 3:
            raise InvalidInput(f"{registry}/{repository} is not PROJECT/REPOSITORY/IMAGE")
        return self._images(*parts)

    def _images(self, project: str, name: str, package: str) -> Iterator[TaggedImage]:
        path = (
            f"projects/{project}/locations/{self._location}/repositories/{name}/packages/"
            f"{quote(package, safe='')}/versions"
        )
        for version in self._pages(path, "versions", view="FULL"):
            digest = version["name"].rsplit("/", 1)[1]
            pushed = version.get("createTime") or version.get("updateTime")
            for tag in version.get("relatedTags", []):
                yield TaggedImage(
                    tag=tag["name"].rsplit("/", 1)[1], digest=digest, pushed_at=pushed
                )

    def describe_images(
        self, registry: str, repository: str, depth: ListingDepth
    ) -> Iterator[ImageRecord]:
        """The GAR repository's dockerImages listing (tags, digest, size, upload time, media
        type) for this image path; the listing names no platforms."""
        parts = repository.split("/", 2)
        if len(parts) < 3:
            raise InvalidInput(f"{registry}/{repository} is not PROJECT/REPOSITORY/IMAGE")
        project, name, _ = parts
        path = f"projects/{project}/locations/{self._location}/repositories/{name}/dockerImages"
        wanted = f"{self._host}/{repository}"
        for image in self._pages(path, "dockerImages"):
            uri = str(image.get("uri", ""))
            located, _, digest = uri.rpartition("@")
            if located != wanted or not digest:
                continue
            size = image.get("imageSizeBytes")
            for tag in image.get("tags", []):
                yield ImageRecord(
                    tag=tag,
                    digest=digest,
                    media_type=image.get("mediaType", ""),
                    size=int(size) if size is not None else None,
                    pushed_at=image.get("uploadTime"),
                )

    def _pages(self, path: str, key: str, **params: str) -> Iterator[dict[str, Any]]:
        where = Where(self._host, operation=f"Artifact Registry list {path}")
        query: dict[str, Any] = {"pageSize": PAGE_SIZE, **params}
        return self._rest.pages(f"{self._api}/v1/{path}", query, key, self._host, where)
