"""`Copier` in process, on in-memory registries: digests kept, blobs skipped, mounted or
streamed, referrers followed, failures classified, nothing written after a bad byte."""

from __future__ import annotations

import pytest

from freightliner.adapters.memory.registry import MemoryRegistries, MemoryRegistry
from freightliner.domain import mediatypes as mt
from freightliner.domain.errors import (
    DigestMismatch,
    NotFound,
    TagConflict,
    Unavailable,
)
from freightliner.domain.reference import Reference
from freightliner.engine.copying.copy import Copier
from freightliner.engine.copying.models import CopyOptions, CopyReport
from freightliner.ports.registry import fallback_tag
from tests.support.oci_images import (
    Image,
    layer,
    push_image,
    push_multi_platform,
    push_referrer,
)

SRC, DST = "src.test", "dst.test"


@pytest.fixture
def registries() -> MemoryRegistries:
    return MemoryRegistries(chunk_size=4096, referrers_api=False)


@pytest.fixture
def src(registries: MemoryRegistries) -> MemoryRegistry:
    return registries.client(SRC)


@pytest.fixture
def dst(registries: MemoryRegistries) -> MemoryRegistry:
    return registries.client(DST)


def copy(registries: MemoryRegistries, source: str, dest: str, **options: object) -> CopyReport:
    with Copier(registries, CopyOptions.model_validate(options)) as copier:
        return copier.copy(Reference.parse(source), Reference.parse(dest))


def assert_same_image(dst: MemoryRegistry, repository: str, image: Image) -> None:
    fetched = dst.get_manifest(repository, str(image.digest))
    assert fetched.data == image.data
    for blob in image.blobs:
        assert dst.head_blob(repository, blob) is not None
    for child in image.children:
        assert_same_image(dst, repository, child)


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker-v2"])
def test_an_image_keeps_its_digest_and_a_second_copy_does_nothing(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry, docker: bool
) -> None:
    image = push_image(src, "team/app", "v1", [layer(1, 10_000), layer(2)], docker=docker)
    report = copy(registries, f"{SRC}/team/app:v1", f"{DST}/mirror/app:v1")
    assert report.status == "copied" and report.digest == str(image.digest)
    assert (report.blobs_copied, report.manifests_pushed) == (3, 1)
    assert report.bytes_copied == sum(len(b) for b in (layer(1, 10_000), layer(2))) + len(
        src.get_blob("team/app", image.blobs[0])
    )
    assert_same_image(dst, "mirror/app", image)
    head = dst.head_manifest("mirror/app", "v1")
    assert head is not None and head.media_type == image.media_type
    assert dst.faults.calls["patch_upload"] > 0  # the 10 kB layer went up in 4 kB chunks
    uploads = dst.faults.calls["start_upload"]
    again = copy(registries, f"{SRC}/team/app:v1", f"{DST}/mirror/app:v1")
    assert again.status == "up-to-date" and again.blobs_copied == 0
    assert dst.faults.calls["start_upload"] == uploads


def test_an_index_is_copied_whole_children_first(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    index = push_multi_platform(src, "team/app", "v1")
    report = copy(registries, f"{SRC}/team/app:v1", f"{DST}/team/app:v1")
    assert report.digest == str(index.digest) and report.manifests_pushed == 4
    assert_same_image(dst, "team/app", index)


def test_filtering_platforms_says_the_digest_changed(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    index = push_multi_platform(src, "team/app", "v1")
    report = copy(registries, f"{SRC}/team/app:v1", f"{DST}/team/app:v1", platforms=["linux/arm64"])
    assert report.digest_changed and report.source_digest == str(index.digest)
    copied = dst.get_manifest("team/app", "v1")
    assert [d.parsed_digest for d in copied.manifest.manifests] == [index.children[1].digest]
    with pytest.raises(NotFound, match="no manifest for windows/amd64"):
        copy(registries, f"{SRC}/team/app:v1", f"{DST}/team/app:v2", platforms=["windows/amd64"])


def test_blobs_mount_within_a_registry_and_from_where_this_run_put_them(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    image = push_image(src, "team/app", "v1", [layer(1)])
    same_host = copy(registries, f"{SRC}/team/app:v1", f"{SRC}/backup/app:v1")
    assert (same_host.blobs_mounted, same_host.blobs_copied) == (2, 0)
    assert_same_image(src, "backup/app", image)
    # shares the config and layer(1) with team/app
    sibling = push_image(src, "team/other", "v1", [layer(1), layer(9)])
    with Copier(registries) as copier:
        copier.copy(Reference.parse(f"{SRC}/team/app:v1"), Reference.parse(f"{DST}/one/app:v1"))
        heads = dst.faults.calls["head_blob"]
        second = copier.copy(
            Reference.parse(f"{SRC}/team/other:v1"), Reference.parse(f"{DST}/two/other:v1")
        )
    assert (second.blobs_mounted, second.blobs_copied) == (2, 1)
    assert dst.faults.calls["mount_blob"] == 2
    assert dst.faults.calls["head_blob"] - heads == 1  # mounted blobs were not asked about
    assert_same_image(dst, "two/other", sibling)


def test_a_tampered_source_blob_stops_the_image_before_any_manifest(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    image = push_image(src, "team/app", "v1", [layer(1), layer(2)])
    src.tamper_blob(image.blobs[2], layer(3))
    with pytest.raises(DigestMismatch):
        copy(registries, f"{SRC}/team/app:v1", f"{DST}/team/app:v1")
    assert dst.head_manifest("team/app", "v1") is None
    assert dst.head_blob("team/app", image.blobs[2]) is None


def test_a_tampered_source_manifest_is_refused(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    image = push_image(src, "team/app", "v1", [layer(1)])
    src.tamper_manifest("team/app", image.digest, image.data + b"\n")
    with pytest.raises(DigestMismatch):
        copy(registries, f"{SRC}/team/app:v1", f"{DST}/team/app:v1")
    assert dst.head_manifest("team/app", "v1") is None


def test_a_blob_upload_that_fails_retryably_is_restarted_from_the_source(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    image = push_image(src, "team/app", "v1", [layer(1, 10_000)])
    dst.faults.fail("patch_upload", Unavailable, after=1)
    src.faults.fail("read_blob_chunk", Unavailable, after=1)
    report = copy(registries, f"{SRC}/team/app:v1", f"{DST}/team/app:v1", jobs=1)
    assert report.blobs_copied == 2
    assert_same_image(dst, "team/app", image)
    assert dst.open_sessions == 2  # the abandoned sessions; nothing committed from them


def test_a_failure_that_persists_is_raised_as_retryable(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    push_image(src, "team/app", "v1", [layer(1)])
    dst.faults.fail("finish_upload", Unavailable, times=10)
    with pytest.raises(Unavailable) as raised:
        copy(registries, f"{SRC}/team/app:v1", f"{DST}/team/app:v1")
    assert raised.value.retryable
    assert (raised.value.where.registry, raised.value.where.repository) == (DST, "team/app")
    assert dst.head_manifest("team/app", "v1") is None


def test_an_immutable_tag_is_never_moved(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    push_image(src, "team/app", "v1", [layer(1)])
    dst.set_immutable("team/app")
    present = push_image(dst, "team/app", "v1", [layer(2)])
    with pytest.raises(TagConflict, match="immutable"):
        copy(registries, f"{SRC}/team/app:v1", f"{DST}/team/app:v1")
    head = dst.head_manifest("team/app", "v1")
    assert head is not None and head.digest == present.digest


def test_a_pinned_source_must_serve_its_digest(
    registries: MemoryRegistries, src: MemoryRegistry
) -> None:
    image = push_image(src, "team/app", "v1", [layer(1)])
    report = copy(registries, f"{SRC}/team/app@{image.digest}", f"{DST}/team/app:v1")
    assert report.digest == str(image.digest)
    other = push_image(src, "team/app", None, [layer(2)])
    with pytest.raises(TagConflict, match="destination pins"):
        copy(registries, f"{SRC}/team/app:v1", f"{DST}/team/app@{other.digest}")


def test_a_dry_run_plans_and_writes_nothing(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    push_multi_platform(src, "team/app", "v1")
    report = copy(registries, f"{SRC}/team/app:v1", f"{DST}/team/app:v1", dry_run=True)
    assert report.status == "planned" and report.manifests_pushed == 4
    assert report.blobs_copied == 9
    assert list(dst.catalog()) == []


@pytest.mark.parametrize("dest_api", [False, True], ids=["dest-tag-fallback", "dest-api"])
def test_referrers_follow_their_subject(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry, dest_api: bool
) -> None:
    dst.referrers_api = dest_api
    subject = push_image(src, "team/app", "v1", [layer(1)])
    signature = push_referrer(src, "team/app", subject, "application/vnd.dev.sig", b"sig")
    sbom = push_referrer(src, "team/app", subject, "application/spdx+json", b"{}")
    report = copy(registries, f"{SRC}/team/app:v1", f"{DST}/team/app:v1", referrers=True)
    assert report.referrers_copied == 2
    found, via_api = dst.referrers("team/app", subject.digest)
    assert via_api is dest_api
    assert sorted(d.parsed_digest for d in found) == sorted([signature.digest, sbom.digest])
    fallback = dst.head_manifest("team/app", fallback_tag(subject.digest))
    assert (fallback is None) is dest_api
    if fallback is not None:
        assert fallback.media_type == mt.OCI_INDEX
    again = copy(registries, f"{SRC}/team/app:v1", f"{DST}/team/app:v1", referrers=True)
    assert again.referrers_copied == 0 and again.status == "up-to-date"


def test_an_image_missing_at_the_source_is_not_found(registries: MemoryRegistries) -> None:
    with pytest.raises(NotFound) as raised:
        copy(registries, f"{SRC}/team/app:v1", f"{DST}/team/app:v1")
    assert not raised.value.retryable and raised.value.where.registry == SRC


class CountedBytes:
    """A ProgressSink that keeps the net bytes the copier reported."""

    def __init__(self) -> None:
        self.moved = 0

    def blobs_planned(self, count: int, size: int) -> None:
        return None

    def blob_started(self, digest: str, size: int) -> None:
        return None

    def bytes_moved(self, count: int) -> None:
        self.moved += count

    def blob_done(self, digest: str, size: int, how: str) -> None:
        return None


def test_a_blob_retried_after_a_reset_counts_its_bytes_once(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    image = push_image(src, "team/app", "v1", [layer(1, 20_000)])
    dst.faults.fail("patch_upload", Unavailable, after=2)  # the third 4 kB chunk is reset
    progress = CountedBytes()
    options = CopyOptions()
    with Copier(registries, options, progress) as copier:
        report = copier.copy(
            Reference.parse(f"{SRC}/team/app:v1"), Reference.parse(f"{DST}/mirror/app:v1")
        )
    assert dst.faults.pending("patch_upload") == 0
    assert report.bytes_copied == progress.moved
    assert progress.moved == len(layer(1, 20_000)) + len(src.get_blob("team/app", image.blobs[0]))
