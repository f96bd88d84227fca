"""Where a tree sync's listing comes from (Artifact Registry's REST API, a plain registry's
tags and image configs) and what skip_existing / force do, on real registries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from freightliner.cli.main import main
from freightliner.harness.images import Pusher, RandomBlob
from freightliner.harness.registry import LocalRegistry
from tests.support.fake_artifact_registry import serve_fake_artifact_registry
from tests.support.faulty_proxy import start_proxy

GAR = "us-docker.pkg.dev"


def sync(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str, **spec: Any) -> Any:
    path = tmp_path / "sync.yaml"
    path.write_text(json.dumps({"syncs": [{"name": "s", "concurrency": 2, **spec}]}))
    code = main(["sync", str(path), "--state", str(tmp_path / "c.db"), "--json", *extra])
    [report] = json.loads(capsys.readouterr().out)
    assert code == 0, report["failures"]
    return report


def tags(registry: LocalRegistry, repository: str) -> list[str]:
    found = httpx.get(f"{registry.url}/v2/{repository}/tags/list")
    return sorted(found.json().get("tags") or []) if found.status_code == 200 else []


def uploads(requests: list[tuple[str, str, int]]) -> int:
    return sum(1 for m, p, _ in requests if m == "PUT" and "/blobs/uploads/" in p)


def test_gar_tree_enumerates_through_the_artifact_registry_api(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    day = datetime(2026, 10, 1, tzinfo=UTC)
    with Pusher(registry.url) as pusher, serve_fake_artifact_registry(registry.url) as api:
        for n in range(3):
            for age, tag in enumerate(["v3.0.0", "v1.0.0", "main"]):
                pusher.image(f"my-project/apps/team/svc{n}", tag, [f"{n}{tag}".encode()])
                api.pushed[(f"my-project/apps/team/svc{n}", tag)] = day + timedelta(days=age)
        pusher.image("my-project/other/x", "v1", [b"not selected"])
        registries = tmp_path / "registries.yaml"
        registries.write_text(
            f"registries:\n  - host: {GAR}\n    endpoint: {registry.url}\n"
            f"    api_endpoint: {api.url}\n    auth: {{kind: anonymous}}\n"
        )
        report = sync(
            tmp_path,
            capsys,
            "--registries",
            str(registries),
            source={"registry": GAR, "prefix": "my-project/apps"},
            destination={"registry": dest_registry.host, "prefix": "mirror"},
            latest=2,
        )
    assert report["repositories"] == 3 and report["copied"] == 6
    for n in range(3):  # the two last pushed, not the two highest versions
        assert tags(dest_registry, f"mirror/team/svc{n}") == ["main", "v1.0.0"]
    assert tags(dest_registry, "mirror/x") == []
    # Listed through packages and versions, several pages each; the catalog was not needed.
    assert sum("/packages" in p and p.endswith("/packages") for p in api.requests) >= 2
    assert sum(p.endswith("/versions") for p in api.requests) >= 3


def test_latest_on_a_plain_registry_orders_by_image_creation_time(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Pusher(registry.url) as pusher:
        for created, tag in [("2026-03-01", "v9"), ("2026-05-01", "v1"), ("2026-04-01", "v2")]:
            pusher.image("src/app", tag, [tag.encode()], created=f"{created}T00:00:00.123456789Z")
    report = sync(
        tmp_path,
        capsys,
        source={"registry": registry.host, "prefix": "src"},
        destination={"registry": dest_registry.host, "prefix": "dst"},
        latest=2,
    )
    assert report["copied"] == 2 and tags(dest_registry, "dst/app") == ["v1", "v2"]


def test_skip_existing_and_force(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Pusher(registry.url) as pusher:
        for n in range(3):
            pusher.image(f"src/app{n}", "v1", [RandomBlob(n, 20_000)])
    proxy, host, stop = start_proxy(dest_registry.url)
    tree: dict[str, Any] = {"source": {"registry": registry.host, "prefix": "src"}}
    tree["destination"] = {"registry": host, "prefix": "dst"}
    tree["concurrency"] = 1  # one image at a time: the shared config is uploaded once
    try:
        first = sync(tmp_path, capsys, **tree)
        assert first["copied"] == 3 and uploads(proxy.requests) == 4  # 3 layers + shared config
        seen = len(proxy.requests)
        present = sync(tmp_path, capsys, **tree)
        # the metadata cache saw each destination tag verified just now: the source's HEAD
        # decides, and not one request crosses this proxy
        assert present["skipped"] == 3 and len(proxy.requests) - seen == 0
        refreshed = sync(tmp_path, capsys, "--refresh", **tree)
        # asked again: per repository a tags list, then the destination's HEAD per image
        assert refreshed["skipped"] == 3 and len(proxy.requests) - seen == 6
        seen = len(proxy.requests)
        checked = sync(tmp_path, capsys, skip_existing=False, **tree)
        # every blob of every present image is checked (a HEAD, or a mount of the config this
        # run saw in another repository); nothing needed uploading
        checks = [
            p
            for m, p, _ in proxy.requests[seen:]
            if (m == "HEAD" and "/blobs/sha256:" in p) or (m == "POST" and "mount=" in p)
        ]
        assert checked["skipped"] == 3 and len(checks) == 6
        assert uploads(proxy.requests[seen:]) == 0
        # a layer lost at the destination (garbage-collected, say) is put back
        layer = json.loads(
            httpx.get(
                f"{dest_registry.url}/v2/dst/app0/manifests/v1",
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
            ).content
        )["layers"][0]["digest"]
        httpx.delete(f"{dest_registry.url}/v2/dst/app0/blobs/{layer}").raise_for_status()
        seen = len(proxy.requests)
        repaired = sync(tmp_path, capsys, skip_existing=False, **tree)
        assert repaired["skipped"] == 3 and uploads(proxy.requests[seen:]) == 1
        assert httpx.head(f"{dest_registry.url}/v2/dst/app0/blobs/{layer}").status_code == 200
        seen = len(proxy.requests)
        forced = sync(tmp_path, capsys, force=True, **tree)
        assert forced["copied"] == 3 and uploads(proxy.requests[seen:]) == 6  # layers, configs
    finally:
        stop()
