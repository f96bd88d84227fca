"""A loopback stand-in for Artifact Registry's REST API (v1), backed by a real registry.

It serves the three list calls a tree sync makes — repositories, packages, versions (with
`relatedTags`) — and `ls`'s dockerImages from the registry's catalog, tags and manifest
digests, one or two entries per page so the client must follow `nextPageToken`. Push times
come from the test.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

import httpx

from freightliner.domain.mediatypes import OCI_MANIFEST


class FakeArtifactRegistry:
    def __init__(self, registry_url: str, location: str) -> None:
        self.registry = registry_url
        self.location = location
        self.pushed: dict[tuple[str, str], datetime] = {}  # (repository, tag) -> push time
        self.requests: list[str] = []
        self.url = ""

    def _catalog(self) -> list[str]:
        return httpx.get(f"{self.registry}/v2/_catalog?n=1000").json()["repositories"] or []

    def answer(self, path: str, query: dict[str, list[str]]) -> dict[str, Any] | None:
        parts = path.strip("/").split("/")
        if parts[:2] != ["v1", "projects"] or parts[3:5] != ["locations", self.location]:
            return None
        project, rest = parts[2], parts[5:]
        parent = f"projects/{project}/locations/{self.location}"
        if rest == ["repositories"]:
            names = sorted({r.split("/")[1] for r in self._catalog() if r.startswith(project)})
            found = [{"name": f"{parent}/repositories/{n}", "format": "DOCKER"} for n in names]
            found.append({"name": f"{parent}/repositories/jars", "format": "MAVEN"})
            return _page("repositories", found, query, 1)
        if len(rest) == 3 and rest[0] == "repositories" and rest[2] == "packages":
            prefix = f"{project}/{rest[1]}/"
            packages = [
                {"name": f"{parent}/repositories/{rest[1]}/packages/{quote(r[len(prefix) :], '')}"}
                for r in self._catalog()
                if r.startswith(prefix)
            ]
            return _page("packages", packages, query, 2)
        if len(rest) == 5 and rest[2] == "packages" and rest[4] == "versions":
            assert query.get("view") == ["FULL"], "relatedTags need view=FULL"
            repository = f"{project}/{rest[1]}/{unquote(rest[3])}"
            return _page("versions", self._versions(parent, rest[1], rest[3], repository), query, 2)
        if len(rest) == 3 and rest[0] == "repositories" and rest[2] == "dockerImages":
            return _page("dockerImages", self._docker_images(parent, project, rest[1]), query, 2)
        return None

    def _docker_images(self, parent: str, project: str, name: str) -> list[dict[str, Any]]:
        prefix = f"{project}/{name}/"
        found = []
        for repository in (r for r in self._catalog() if r.startswith(prefix)):
            package = quote(repository[len(prefix) :], "")
            for version in self._versions(parent, name, package, repository):
                digest = version["name"].rsplit("/", 1)[1]
                got = httpx.get(
                    f"{self.registry}/v2/{repository}/manifests/{digest}",
                    headers={"Accept": OCI_MANIFEST},
                )
                doc = got.json()
                blobs = [doc["config"], *doc["layers"]]
                found.append(
                    {
                        "name": f"{parent}/repositories/{name}/dockerImages/{package}@{digest}",
                        "uri": f"{self.location}-docker.pkg.dev/{repository}@{digest}",
                        "tags": [t["name"].rsplit("/", 1)[1] for t in version["relatedTags"]],
                        "imageSizeBytes": str(len(got.content) + sum(b["size"] for b in blobs)),
                        "uploadTime": version["createTime"],
                        "mediaType": got.headers["Content-Type"],
                    }
                )
        return found

    def _versions(
        self, parent: str, name: str, package: str, repository: str
    ) -> list[dict[str, Any]]:
        tags = httpx.get(f"{self.registry}/v2/{repository}/tags/list").json()["tags"] or []
        by_digest: dict[str, list[str]] = {}
        for tag in sorted(tags):
            head = httpx.head(
                f"{self.registry}/v2/{repository}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}
            )
            by_digest.setdefault(head.headers["Docker-Content-Digest"], []).append(tag)
        base = f"{parent}/repositories/{name}/packages/{package}"
        epoch = datetime(2026, 1, 1, tzinfo=UTC)
        return [
            {
                "name": f"{base}/versions/{digest}",
                "createTime": max(
                    self.pushed.get((repository, t), epoch) for t in tagged
                ).isoformat(),
                "relatedTags": [{"name": f"{base}/tags/{t}", "version": digest} for t in tagged],
            }
            for digest, tagged in by_digest.items()
        ]


def _page(key: str, entries: list[Any], query: dict[str, list[str]], size: int) -> dict[str, Any]:
    start = int(query.get("pageToken", ["0"])[0])
    page: dict[str, Any] = {key: entries[start : start + size]}
    if start + size < len(entries):
        page["nextPageToken"] = str(start + size)
    return page


@contextmanager
def serve_fake_artifact_registry(
    registry_url: str, location: str = "us"
) -> Iterator[FakeArtifactRegistry]:
    fake = FakeArtifactRegistry(registry_url, location)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            fake.requests.append(url.path)
            body = fake.answer(url.path, parse_qs(url.query))
            data = json.dumps(body or {"error": {"code": 404, "message": "no such path"}})
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(data.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
