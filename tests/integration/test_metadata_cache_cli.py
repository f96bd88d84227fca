"""The metadata cache through the command line on real registries: a later `copy` mounts
blobs another repository of the destination holds (0 layer bytes uploaded), a no-op `sync`
asks the destination nothing, `ls` lists from the cache within the TTL, and `refresh` /
`--refresh` ask again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from freightliner.cli.main import main
from freightliner.harness.images import Pushed, Pusher, RandomBlob
from freightliner.harness.registry import LocalRegistry
from tests.support.fake_artifact_registry import serve_fake_artifact_registry
from tests.support.faulty_proxy import FaultyProxy, start_proxy

LAYER = 300_000
GAR = "us-docker.pkg.dev"


@pytest.fixture
def watched(dest_registry: LocalRegistry) -> Iterator[tuple[FaultyProxy, str]]:
    """The destination behind a proxy that counts requests and uploaded body bytes."""
    proxy, host, stop = start_proxy(dest_registry.url)
    try:
        yield proxy, host
    finally:
        stop()


def copy_json(capsys: pytest.CaptureFixture[str], src: str, dst: str) -> dict[str, object]:
    code = main(["copy", src, dst, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return dict(json.loads(out))


def seed(registry: LocalRegistry) -> Pushed:
    with Pusher(registry.url) as pusher:
        return pusher.image("app", "v1", [RandomBlob(1, LAYER), RandomBlob(2, LAYER)])


def test_a_fresh_copy_mounts_what_the_registry_holds_in_another_repository(
    registry: LocalRegistry,
    watched: tuple[FaultyProxy, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy, host = watched
    image = seed(registry)
    first = copy_json(capsys, f"{registry.host}/app:v1", f"{host}/one/app:v1")
    assert first["blobs_copied"] == 3 and proxy.body_bytes >= 2 * LAYER
    before = proxy.body_bytes
    second = copy_json(capsys, f"{registry.host}/app:v1", f"{host}/two/app:v1")
    assert (second["blobs_mounted"], second["blobs_copied"], second["bytes_copied"]) == (3, 0, 0)
    assert proxy.body_bytes - before == len(image.data)  # the manifest: no layer byte
    assert sum(1 for m, p, s in proxy.requests if m == "POST" and "mount=" in p and s == 201) == 3
    # without the cache, nothing tells the registry holds them: uploaded again
    monkeypatch.setenv("FREIGHTLINER_METADATA_CACHE", "off")
    before = proxy.body_bytes
    third = copy_json(capsys, f"{registry.host}/app:v1", f"{host}/three/app:v1")
    assert third["blobs_copied"] == 3 and proxy.body_bytes - before >= 2 * LAYER


def test_a_noop_sync_asks_the_destination_nothing_until_verify(
    registry: LocalRegistry,
    watched: tuple[FaultyProxy, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    proxy, host = watched
    with Pusher(registry.url) as pusher:
        for n in range(3):
            for tag in ("v1", "v2"):
                pusher.image(f"prod/svc{n}", tag, [f"svc{n}:{tag}".encode()])
    spec = {
        "name": "mirror",
        "source": {"registry": registry.host, "prefix": "prod"},
        "destination": {"registry": host, "prefix": "mirror"},
    }
    path = tmp_path / "sync.yaml"
    path.write_text(json.dumps({"syncs": [spec]}))
    state = str(tmp_path / "checkpoints.db")

    def sync(*flags: str) -> dict[str, int]:
        code = main(["sync", str(path), "--state", state, "--json", *flags])
        [report] = json.loads(capsys.readouterr().out)
        assert code == 0, report
        return {k: report[k] for k in ("copied", "skipped", "failed")}

    assert sync() == {"copied": 6, "skipped": 0, "failed": 0}
    asked = len(proxy.requests)
    assert sync() == {"copied": 0, "skipped": 6, "failed": 0}
    assert len(proxy.requests) == asked  # not one request to the destination
    assert sync("--refresh") == {"copied": 0, "skipped": 6, "failed": 0}
    heads = [p for m, p, _ in proxy.requests[asked:] if m == "HEAD"]
    assert len(heads) == 6  # one HEAD per image, no blob checked
    asked = len(proxy.requests)
    assert sync("--verify") == {"copied": 0, "skipped": 6, "failed": 0}
    blob_checks = [p for m, p, _ in proxy.requests[asked:] if "/blobs/" in p]
    assert len(blob_checks) >= 6  # every image's blobs checked again


def test_ls_lists_every_tag_from_the_cache_within_its_ttl(
    dest_registry: LocalRegistry,
    watched: tuple[FaultyProxy, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy, host = watched
    with Pusher(dest_registry.url) as pusher:
        index = pusher.multi_platform("lib/app", "multi", layer_sizes=(4096,))
        single = pusher.image(
            "lib/app", "single", [b"layer"], platform="linux/arm64", created="2026-01-02T03:04:05Z"
        )

    def ls(*flags: str) -> dict[str, dict[str, object]]:
        code = main(["ls", f"{host}/lib/app", "--json", *flags])
        listing = json.loads(capsys.readouterr().out)
        assert code == 0
        return {image["tag"]: image for image in listing["images"]}

    listed = ls()
    assert listed["multi"]["digest"] == index.digest
    assert listed["multi"]["platforms"] == ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    assert listed["multi"]["size"] == index.size
    assert listed["single"]["digest"] == single.digest
    assert listed["single"]["platforms"] == ["linux/arm64"]
    assert listed["single"]["size"] == single.size
    assert listed["single"]["pushed_at"] == "2026-01-02T03:04:05Z"
    assert listed["single"]["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    asked = len(proxy.requests)
    assert ls() == listed and len(proxy.requests) == asked  # from the cache
    assert ls("--refresh") == listed and len(proxy.requests) > asked
    asked = len(proxy.requests)
    monkeypatch.setenv("FREIGHTLINER_METADATA_TTL", "0")
    assert ls() == listed and len(proxy.requests) > asked  # expired: listed again
    code = main(["refresh", "tags", f"{host}/lib/app", "--json"])
    tags = json.loads(capsys.readouterr().out)
    assert code == 0 and {i["tag"]: i["digest"] for i in tags["images"]} == {
        "multi": index.digest,
        "single": single.digest,
    }
    assert main(["ls", f"{host}/lib/app"]) == 0
    assert "linux/amd64,linux/arm64,linux/arm/v7" in capsys.readouterr().out


def test_ls_reads_artifact_registry_through_its_docker_images_listing(
    registry: LocalRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pushed = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    with Pusher(registry.url) as pusher, serve_fake_artifact_registry(registry.url) as api:
        image = pusher.image("my-project/apps/web", "v1", [b"web layer"])
        pusher.image("my-project/apps/other", "v1", [b"another image"])
        api.pushed[("my-project/apps/web", "v1")] = pushed
        registries = tmp_path / "registries.yaml"
        registries.write_text(
            f"registries:\n  - host: {GAR}\n    endpoint: {registry.url}\n"
            f"    api_endpoint: {api.url}\n    auth: {{kind: anonymous}}\n"
        )
        code = main(["ls", f"{GAR}/my-project/apps/web", "--registries", str(registries), "--json"])
        listing = json.loads(capsys.readouterr().out)
    assert code == 0
    [only] = listing["images"]
    assert (only["tag"], only["digest"], only["size"]) == ("v1", image.digest, image.size)
    assert only["pushed_at"] == "2026-03-04T05:06:07Z"
    assert only["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    assert any(p.endswith("/dockerImages") for p in api.requests)
