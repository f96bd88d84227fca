"""`freightliner copy` between real registries on loopback, checked with skopeo."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.cli.main import main
from freightliner.domain.reference import Reference
from freightliner.engine.copying.copy import Copier
from freightliner.engine.copying.models import CopyOptions, CopyReport
from freightliner.harness.images import OCI_INDEX, Pusher, RandomBlob
from freightliner.harness.registry import LocalRegistry
from tests.support.faulty_proxy import FaultyProxy, start_proxy
from tests.support.skopeo import skopeo_digest, skopeo_manifest


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def copy(src: str, dst: str, **options: object) -> CopyReport:
    container = RegistryClients()
    try:
        with Copier(container, CopyOptions.model_validate(options)) as copier:
            return copier.copy(Reference.parse(src), Reference.parse(dst))
    finally:
        container.close()


@pytest.fixture
def proxy(dest_registry: LocalRegistry) -> Iterator[tuple[FaultyProxy, str]]:
    """A pass-through proxy in front of the destination, recording every request."""
    fake, host, stop = start_proxy(dest_registry.url)
    yield fake, host
    stop()


def blob_writes(fake: FaultyProxy) -> list[tuple[str, str, int]]:
    return [r for r in fake.requests if r[0] in ("PUT", "PATCH") and "/blobs/uploads/" in r[1]]


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker-v2"])
def test_single_image_keeps_its_digest(
    registry: LocalRegistry, dest_registry: LocalRegistry, docker: bool
) -> None:
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [RandomBlob(1, 300_000), b"tail"], docker=docker)
    report = copy(f"{registry.host}/team/app:v1", f"{dest_registry.host}/mirror/app:v1")
    assert report.status == "copied"
    assert report.digest == image.digest and not report.digest_changed
    assert report.blobs_copied == 3
    assert skopeo_digest(f"{dest_registry.host}/mirror/app:v1") == image.digest


@pytest.mark.parametrize("docker", [False, True], ids=["oci-index", "docker-list"])
def test_multi_platform_index_is_copied_whole(
    registry: LocalRegistry, dest_registry: LocalRegistry, docker: bool
) -> None:
    with Pusher(registry.url) as pusher:
        index = pusher.multi_platform("team/app", "v1", docker=docker)
    report = copy(f"{registry.host}/team/app:v1", f"{dest_registry.host}/team/app:v1")
    assert report.digest == index.digest
    assert report.manifests_pushed == 4
    for child in index.children:
        assert skopeo_digest(f"{dest_registry.host}/team/app@{child.digest}") == child.digest
    assert skopeo_digest(f"{dest_registry.host}/team/app:v1") == index.digest


def test_nested_index_copies_every_level(
    registry: LocalRegistry, dest_registry: LocalRegistry
) -> None:
    with Pusher(registry.url) as pusher:
        inner = pusher.multi_platform("team/app", None, platforms=("linux/amd64", "linux/arm64"))
        image = pusher.image("team/app", None, [b"s390x layer"], platform="linux/s390x")
        outer = pusher.index("team/app", "nested", [inner, image])
    report = copy(f"{registry.host}/team/app:nested", f"{dest_registry.host}/team/app:nested")
    assert report.digest == outer.digest
    assert report.manifests_pushed == 5
    for child in inner.children:
        assert skopeo_digest(f"{dest_registry.host}/team/app@{child.digest}") == child.digest


def test_zero_byte_and_repeated_layers(
    registry: LocalRegistry, dest_registry: LocalRegistry
) -> None:
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [b"", b"same", b"same", b""])
    report = copy(f"{registry.host}/team/app:v1", f"{dest_registry.host}/team/app:v1")
    assert report.blobs_copied == 3  # config, empty, "same"
    assert skopeo_digest(f"{dest_registry.host}/team/app:v1") == image.digest
    empty = hashlib.sha256(b"").hexdigest()
    head = httpx.head(f"{dest_registry.url}/v2/team/app/blobs/sha256:{empty}")
    assert head.status_code == 200


def test_second_copy_moves_no_blob_bytes(
    registry: LocalRegistry, proxy: tuple[FaultyProxy, str]
) -> None:
    fake, dest_host = proxy
    with Pusher(registry.url) as pusher:
        pusher.multi_platform("team/app", "v1")
        pusher.multi_platform("team/app", "v2", seed=1)
    first = copy(f"{registry.host}/team/app:v1", f"{dest_host}/team/app:v1")
    uploads = len(blob_writes(fake))
    assert first.blobs_copied == 9 and uploads == 9
    again = copy(f"{registry.host}/team/app:v1", f"{dest_host}/team/app:v1")
    assert again.status == "up-to-date" and again.bytes_copied == 0
    assert len(blob_writes(fake)) == uploads
    # A new tag sharing the children: manifests present, nothing uploaded again.
    retag = copy(f"{registry.host}/team/app:v1", f"{dest_host}/team/app:latest")
    assert retag.blobs_copied == 0 and retag.manifests_skipped == 3
    assert len(blob_writes(fake)) == uploads


def test_blobs_are_mounted_from_another_repository(
    registry: LocalRegistry, proxy: tuple[FaultyProxy, str]
) -> None:
    fake, dest_host = proxy
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [RandomBlob(3, 100_000)])
    container = RegistryClients()
    with Copier(container, CopyOptions()) as copier:
        copier.copy(
            Reference.parse(f"{registry.host}/team/app:v1"),
            Reference.parse(f"{dest_host}/first/app:v1"),
        )
        uploads = len(blob_writes(fake))
        second = copier.copy(
            Reference.parse(f"{registry.host}/team/app:v1"),
            Reference.parse(f"{dest_host}/second/app:v1"),
        )
    container.close()
    assert second.blobs_mounted == 2 and second.blobs_copied == 0
    assert len(blob_writes(fake)) == uploads
    assert any(r[0] == "POST" and "mount=" in r[1] and r[2] == 201 for r in fake.requests)
    assert skopeo_digest(f"{dest_host}/second/app:v1") == image.digest


@pytest.mark.slow
def test_large_blob_goes_through_chunked_upload(
    registry: LocalRegistry, proxy: tuple[FaultyProxy, str], tmp_path: Path
) -> None:
    fake, dest_host = proxy
    size = 260 * 1024 * 1024
    with Pusher(registry.url) as pusher:
        image = pusher.image("big/app", "v1", [RandomBlob(42, size)])
    config = tmp_path / "registries.yaml"
    config.write_text(f"registries:\n  - host: {dest_host}\n    chunk_size: 67108864\n")
    container = RegistryClients.from_environment(config)
    with Copier(container, CopyOptions()) as copier:
        report = copier.copy(
            Reference.parse(f"{registry.host}/big/app:v1"),
            Reference.parse(f"{dest_host}/big/app:v1"),
        )
    container.close()
    assert report.bytes_copied >= size
    patches = [r for r in fake.requests if r[0] == "PATCH"]
    assert len(patches) == 5 and all(status == 202 for *_, status in patches)
    assert skopeo_digest(f"{dest_host}/big/app:v1") == image.digest


def test_chunked_upload_resumes_at_the_registry_offset_after_416(
    registry: LocalRegistry, proxy: tuple[FaultyProxy, str], tmp_path: Path
) -> None:
    """A PATCH answered 416 makes the client ask the registry for its offset and go on from
    there. distribution 2.8 ignores Content-Range, so the proxy plays the 416."""
    fake, dest_host = proxy
    blob = RandomBlob(9, 3 * 1024 * 1024)
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [blob])
    patches = {"seen": 0}

    def second_patch(method: str, path: str) -> bool:
        if method != "PATCH":
            return False
        patches["seen"] += 1
        return patches["seen"] == 2

    fake.fail(second_patch, 416, 1)
    config = tmp_path / "registries.yaml"
    config.write_text(f"registries:\n  - host: {dest_host}\n    chunk_size: 1048576\n")
    container = RegistryClients.from_environment(config)
    with Copier(container, CopyOptions()) as copier:
        report = copier.copy(
            Reference.parse(f"{registry.host}/team/app:v1"),
            Reference.parse(f"{dest_host}/team/app:v1"),
        )
    container.close()
    assert report.digest == image.digest
    statuses = [(m, status) for m, path, status in fake.requests if "/blobs/uploads/" in path]
    # 1st chunk accepted, 2nd refused, offset asked (GET 204), 2nd and 3rd sent, then PUT.
    assert [m for m, _ in statuses if m in ("PATCH", "GET")] == [
        "PATCH",
        "PATCH",
        "GET",
        "PATCH",
        "PATCH",
    ]
    assert statuses[-1] == ("PUT", 201)
    assert skopeo_digest(f"{dest_host}/team/app:v1") == image.digest


def test_platform_filter_reports_the_new_digest(
    registry: LocalRegistry, dest_registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    with Pusher(registry.url) as pusher:
        index = pusher.multi_platform("team/app", "v1")
    code, out, _ = run_cli(
        capsys,
        "copy",
        f"{registry.host}/team/app:v1",
        f"{dest_registry.host}/team/app:arm",
        "--platform",
        "linux/aarch64",
        "--platform",
        "linux/armv7l",
        "--json",
    )
    assert code == 0
    report = json.loads(out)
    assert report["digest_changed"] and report["source_digest"] == index.digest
    copied = skopeo_manifest(f"{dest_registry.host}/team/app:arm")
    assert [m["platform"]["architecture"] for m in copied["manifests"]] == ["arm64", "arm"]
    assert skopeo_digest(f"{dest_registry.host}/team/app:arm") == report["digest"]
    code, _, err = run_cli(
        capsys,
        "copy",
        f"{registry.host}/team/app:v1",
        f"{dest_registry.host}/team/app:x",
        "--platform",
        "windows/amd64",
    )
    assert code == 3 and "available: linux/amd64, linux/arm64, linux/arm/v7" in err


def test_referrers_follow_through_the_tag_fallback(
    registry: LocalRegistry, dest_registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [b"layer"])
        signature = pusher.referrer("team/app", image, "application/vnd.dev.cosign.sig", b"sig")
        sbom = pusher.referrer("team/app", image, "application/spdx+json", b"{}")
    code, out, _ = run_cli(
        capsys,
        "copy",
        f"{registry.host}/team/app:v1",
        f"{dest_registry.host}/team/app:v1",
        "--referrers",
        "--json",
    )
    assert code == 0 and json.loads(out)["referrers_copied"] == 2
    fallback = "sha256-" + image.digest.split(":")[1]
    listed = skopeo_manifest(f"{dest_registry.host}/team/app:{fallback}")
    assert {m["digest"] for m in listed["manifests"]} == {signature.digest, sbom.digest}
    for ref in (signature, sbom):
        assert skopeo_digest(f"{dest_registry.host}/team/app@{ref.digest}") == ref.digest


def test_dry_run_writes_nothing(
    registry: LocalRegistry, proxy: tuple[FaultyProxy, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, dest_host = proxy
    with Pusher(registry.url) as pusher:
        pusher.multi_platform("team/app", "v1")
    code, out, _ = run_cli(
        capsys,
        "copy",
        f"{registry.host}/team/app:v1",
        f"{dest_host}/team/app:v1",
        "--dry-run",
        "--json",
    )
    assert code == 0
    report = json.loads(out)
    assert report["status"] == "planned" and report["blobs_copied"] == 9
    assert {method for method, *_ in fake.requests} <= {"GET", "HEAD"}


def test_tampered_blob_is_refused_and_no_manifest_is_written(
    registry: LocalRegistry, dest_registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [b"honest bytes", RandomBlob(5, 200_000)])
    registry.blob_data_path(image.blobs[1]).write_bytes(b"evil bytes!!")
    code, _, err = run_cli(
        capsys, "copy", f"{registry.host}/team/app:v1", f"{dest_registry.host}/team/app:v1"
    )
    assert code == 5 and "digest_mismatch" in err
    tags = httpx.get(f"{dest_registry.url}/v2/team/app/tags/list")
    assert tags.status_code == 404 or not tags.json().get("tags")
    tampered = httpx.head(f"{dest_registry.url}/v2/team/app/blobs/{image.blobs[1]}")
    assert tampered.status_code == 404


def test_missing_tag_and_bad_input_exit_codes(
    registry: LocalRegistry, dest_registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    with Pusher(registry.url) as pusher:
        pusher.image("team/app", "v1", [b"x"])
    code, _, err = run_cli(
        capsys, "copy", f"{registry.host}/team/app:nope", f"{dest_registry.host}/team/app:v1"
    )
    assert code == 3 and "team/app:nope" in err and "not found" in err
    code, _, err = run_cli(capsys, "copy", f"{registry.host}/Team/App", "x.io/a/b")
    assert code == 2 and "invalid" in err
    assert len(err.strip().splitlines()) == 1


def _serve_manifest(fake: FaultyProxy, body: bytes, content_type: str) -> None:
    fake.fail(
        lambda m, p: "/manifests/odd" in p,
        200,
        10,
        body=body,
        headers={"Content-Type": content_type},
    )


def test_unknown_media_type_and_schema1_are_refused(
    registry: LocalRegistry, dest_registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, host, stop = start_proxy(registry.url)
    try:
        _serve_manifest(
            fake,
            json.dumps(
                {"schemaVersion": 2, "mediaType": "application/vnd.example.thing.v1+json"}
            ).encode(),
            "application/vnd.example.thing.v1+json",
        )
        code, _, err = run_cli(
            capsys, "copy", f"{host}/team/app:odd", f"{dest_registry.host}/team/app:odd"
        )
        assert code == 7 and "unknown manifest media type" in err
        fake.faults.clear()
        _serve_manifest(
            fake,
            b'{"schemaVersion": 1, "name": "team/app"}',
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        )
        code, _, err = run_cli(
            capsys, "copy", f"{host}/team/app:odd", f"{dest_registry.host}/team/app:odd"
        )
        assert code == 7 and "schema 1" in err
    finally:
        stop()


def test_503_and_429_are_retried_until_the_copy_completes(
    registry: LocalRegistry, proxy: tuple[FaultyProxy, str]
) -> None:
    fake, dest_host = proxy
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [RandomBlob(2, 50_000)])
    fake.fail(lambda m, p: m == "PUT" and "/manifests/" in p, 503, 2)
    fake.fail(lambda m, p: m == "POST" and "/blobs/uploads/" in p, 429, 1, retry_after="0")
    fake.fail(lambda m, p: m == "PUT" and "/blobs/uploads/" in p, 0, 1)  # connection dropped
    report = copy(f"{registry.host}/team/app:v1", f"{dest_host}/team/app:v1")
    assert report.digest == image.digest
    assert [f.hits for f in fake.faults] == [2, 1, 1]
    assert skopeo_digest(f"{dest_host}/team/app:v1") == image.digest


def test_404_fails_fast_without_retries(
    registry: LocalRegistry, proxy: tuple[FaultyProxy, str]
) -> None:
    fake, host, stop = start_proxy(registry.url)
    try:
        with pytest.raises(Exception, match="not found"):
            copy(f"{host}/team/missing:v1", f"{proxy[1]}/team/app:v1")
        assert len([r for r in fake.requests if "/manifests/" in r[1]]) == 1
    finally:
        stop()


def test_inspect_and_paginated_tags(
    registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    with Pusher(registry.url) as pusher:
        index = pusher.multi_platform("team/app", "v1")
        for n in range(5):
            pusher.manifest("team/app", f"t{n}", index.data, OCI_INDEX)
    code, out, _ = run_cli(capsys, "inspect", f"{registry.host}/team/app:v1", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["digest"] == index.digest
    assert summary["size"] == index.size
    assert [p["platform"] for p in summary["platforms"]] == [
        "linux/amd64",
        "linux/arm64",
        "linux/arm/v7",
    ]
    container = RegistryClients()
    tags = list(container.client(registry.host).list_tags("team/app", page_size=2))
    container.close()
    assert sorted(tags) == ["t0", "t1", "t2", "t3", "t4", "v1"]
    code, out, _ = run_cli(capsys, "tags", f"{registry.host}/team/app")
    assert code == 0 and sorted(out.split()) == sorted(tags)


def test_a_batch_of_images_copies_concurrently_within_the_bound(
    registry: LocalRegistry, dest_registry: LocalRegistry
) -> None:
    with Pusher(registry.url) as pusher:
        images = [pusher.image(f"team/app{n}", "v1", [RandomBlob(n, 20_000)]) for n in range(4)]
    pairs = [
        (
            Reference.parse(f"{registry.host}/team/app{n}:v1"),
            Reference.parse(f"{dest_registry.host}/mirror/app{n}:v1"),
        )
        for n in range(4)
    ]
    container = RegistryClients()
    with Copier(container, CopyOptions(jobs=2)) as copier:
        reports = copier.copy_many(pairs)
    container.close()
    assert [r.digest for r in reports] == [image.digest for image in images]
    for n, image in enumerate(images):
        assert skopeo_digest(f"{dest_registry.host}/mirror/app{n}:v1") == image.digest


def test_plain_progress_lines_when_not_on_a_terminal(
    registry: LocalRegistry, dest_registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [RandomBlob(4, 70_000)])
    code, out, err = run_cli(
        capsys, "copy", f"{registry.host}/team/app:v1", f"{dest_registry.host}/team/app:v1"
    )
    assert code == 0
    # one line per interval (10 s) and a last one, not a line per blob
    assert re.fullmatch(r"blobs 2/2 \| 68\.\d KiB of 68\.\d KiB \(100%\) at .+/s\n", err), err
    assert f"digest      {image.digest} (unchanged)" in out
    assert "blobs       2 copied, 0 mounted, 0 present" in out


def test_mount_falls_back_to_the_upload_it_was_offered(
    registry: LocalRegistry, dest_registry: LocalRegistry
) -> None:
    """A mount from a repository without the blob answers 202 with an upload session; the
    blob is then uploaded into that session."""
    blob = RandomBlob(11, 40_000)
    with Pusher(registry.url) as pusher:
        pusher.image("team/app", "v1", [blob])
    container = RegistryClients()
    dest = container.client(dest_registry.host)
    source = container.client(registry.host)
    digest = Reference.parse(f"x.io/a/b@{blob.digest()}").digest
    assert digest is not None
    location = dest.mount_blob("team/app", digest, "elsewhere/repo")
    assert location is not None and "/blobs/uploads/" in location
    dest.upload_blob(
        "team/app",
        digest,
        blob.size,
        lambda: source.open_blob("team/app", digest),
        location=location,
    )
    assert dest.head_blob("team/app", digest) == blob.size
    container.close()


def test_catalog_follows_link_pagination(registry: LocalRegistry) -> None:
    with Pusher(registry.url) as pusher:
        for n in range(5):
            pusher.image(f"team/app{n}", "v1", [b"x"])
    container = RegistryClients()
    names = list(container.client(registry.host).catalog(page_size=2))
    container.close()
    assert names == [f"team/app{n}" for n in range(5)]
