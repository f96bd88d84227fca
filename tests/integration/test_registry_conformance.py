"""One contract, every implementation of the `Registry` port: the httpx client against a real
`docker-registry` (distribution 2.8, no referrers API: referrers go through the tag
fallback) and the in-memory registry, with and without the referrers API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from freightliner.adapters.memory.registry import MemoryRegistry
from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.domain import mediatypes as mt
from freightliner.domain.digest import Digest
from freightliner.domain.errors import (
    DigestMismatch,
    InvalidInput,
    NotFound,
    PermanentError,
    Unavailable,
)
from freightliner.domain.registries import Registries, RegistryConfig
from freightliner.domain.uploads import UploadPaused
from freightliner.ports.registry import Registry, fallback_tag
from tests.support.oci_images import (
    layer,
    push_blob,
    push_image,
    push_index,
    push_multi_platform,
    push_referrer,
    source_of,
)

CHUNK = 1024 * 1024  # the smallest chunk size the configuration allows


@pytest.fixture(params=["distribution", "memory", "memory-referrers-api"])
def reg(request: pytest.FixtureRequest) -> Iterator[Registry]:
    if request.param == "distribution":
        local = request.getfixturevalue("registry")
        container = RegistryClients(Registries([RegistryConfig(host=local.host, chunk_size=CHUNK)]))
        try:
            yield container.client(local.host)
        finally:
            container.close()
    else:
        api = request.param == "memory-referrers-api"
        yield MemoryRegistry("registry.test", chunk_size=CHUNK, referrers_api=api)


# -- manifests ------------------------------------------------------------------------------


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker-v2"])
def test_a_manifest_comes_back_byte_for_byte_by_tag_and_by_digest(
    reg: Registry, docker: bool
) -> None:
    image = push_image(reg, "team/app", "v1", [layer(1)], docker=docker)
    head = reg.head_manifest("team/app", "v1")
    assert head is not None
    assert (head.digest, head.media_type, head.size) == (
        image.digest,
        image.media_type,
        len(image.data),
    )
    for reference in ("v1", str(image.digest)):
        fetched = reg.get_manifest("team/app", reference)
        assert fetched.data == image.data and fetched.digest == image.digest
        assert fetched.media_type == image.media_type
        assert [b.parsed_digest for b in fetched.manifest.blobs()] == image.blobs


def test_an_index_needs_its_children_and_lists_them(reg: Registry) -> None:
    index = push_multi_platform(reg, "team/app", "multi")
    fetched = reg.get_manifest("team/app", "multi")
    assert fetched.manifest.is_index
    assert [d.parsed_digest for d in fetched.manifest.manifests] == [
        c.digest for c in index.children
    ]
    orphan = push_image(reg, "team/other", None, [layer(7)])
    with pytest.raises(InvalidInput):  # its child lives in another repository
        push_index(reg, "team/app", "broken", [orphan])
    assert reg.head_manifest("team/app", "broken") is None


def test_missing_manifests_are_none_on_head_and_not_found_on_get(reg: Registry) -> None:
    push_image(reg, "team/app", "v1", [layer(1)])
    assert reg.head_manifest("team/app", "nope") is None
    assert reg.head_manifest("team/app", str(Digest.of(b"nothing"))) is None
    assert reg.head_manifest("team/absent", "v1") is None
    with pytest.raises(NotFound):
        reg.get_manifest("team/app", "nope")


def test_a_manifest_pushed_under_another_digest_is_refused(reg: Registry) -> None:
    image = push_image(reg, "team/app", "v1", [layer(1)])
    wrong = Digest.of(b"not this manifest")
    with pytest.raises(PermanentError):
        reg.put_manifest("team/app", str(wrong), image.data, image.media_type)
    assert reg.head_manifest("team/app", str(wrong)) is None


def test_a_manifest_whose_blobs_are_missing_is_refused(reg: Registry) -> None:
    image = push_image(reg, "team/app", "v1", [layer(1)])
    with pytest.raises(InvalidInput):
        reg.put_manifest("team/empty", "v1", image.data, image.media_type)
    assert reg.head_manifest("team/empty", "v1") is None


def test_deleting_a_manifest_removes_it_and_its_tag(reg: Registry) -> None:
    image = push_image(reg, "team/app", "v1", [layer(1)])
    reg.delete_manifest("team/app", image.digest)
    assert reg.head_manifest("team/app", str(image.digest)) is None
    assert reg.head_manifest("team/app", "v1") is None
    with pytest.raises(NotFound):
        reg.delete_manifest("team/app", image.digest)


# -- blobs ----------------------------------------------------------------------------------


def test_blobs_round_trip_and_stream(reg: Registry) -> None:
    data = layer(3, 300_000)
    digest = Digest.of(data)
    assert reg.head_blob("team/app", digest) is None
    push_blob(reg, "team/app", data)
    assert reg.head_blob("team/app", digest) == len(data)
    assert reg.get_blob("team/app", digest) == data
    with reg.open_blob("team/app", digest) as chunks:
        assert b"".join(chunks) == data
    with pytest.raises(InvalidInput):
        reg.get_blob("team/app", digest, limit=1000)
    with pytest.raises(NotFound), reg.open_blob("team/app", Digest.of(b"absent")) as chunks:
        b"".join(chunks)


def test_a_blob_larger_than_a_chunk_goes_up_in_chunks(reg: Registry) -> None:
    data = layer(4, CHUNK * 2 + CHUNK // 2)
    digest = Digest.of(data)
    counted: list[int] = []
    reg.upload_blob("team/big", digest, len(data), source_of(data), on_bytes=counted.append)
    assert sum(counted) == len(data)
    assert reg.head_blob("team/big", digest) == len(data)
    assert reg.get_blob("team/big", digest, limit=len(data)) == data


def test_a_paused_upload_continues_from_the_offset_the_registry_reports(reg: Registry) -> None:
    data = layer(6, CHUNK * 3 + 10)
    digest = Digest.of(data)
    acknowledged: list[tuple[str, int]] = []
    checks = [0]

    def stop() -> bool:
        checks[0] += 1
        return checks[0] > 2

    with pytest.raises(UploadPaused) as paused:
        reg.upload_blob(
            "team/big",
            digest,
            len(data),
            source_of(data),
            on_chunk=lambda at, offset: acknowledged.append((at, offset)),
            stop=stop,
        )
    location, offset = acknowledged[-1]
    assert [o for _, o in acknowledged] == [CHUNK, 2 * CHUNK] and paused.value.offset == offset
    assert reg.upload_offset("team/big", location) == offset
    assert reg.head_blob("team/big", digest) is None
    sent: list[int] = []
    reg.upload_blob(
        "team/big",
        digest,
        len(data),
        source_of(data),
        location=location,
        offset=offset,
        on_bytes=sent.append,
    )
    assert sum(sent) == len(data) - offset
    assert reg.get_blob("team/big", digest, limit=len(data)) == data


def test_a_finished_upload_session_reports_no_offset(reg: Registry) -> None:
    location = reg.start_upload("team/app")
    data = layer(7, 1000)
    reg.upload_blob("team/app", Digest.of(data), len(data), source_of(data), location=location)
    assert reg.upload_offset("team/app", location) is None


@pytest.mark.parametrize("size", [1000, CHUNK + 1000], ids=["monolithic", "chunked"])
def test_an_upload_that_does_not_match_its_digest_commits_nothing(reg: Registry, size: int) -> None:
    data = layer(5, size)
    claimed = Digest.of(data + b"!")
    with pytest.raises(DigestMismatch):
        reg.upload_blob("team/app", claimed, size, source_of(data))
    assert reg.head_blob("team/app", claimed) is None
    with pytest.raises(DigestMismatch):  # shorter than declared
        reg.upload_blob("team/app", Digest.of(data), size + 1, source_of(data))
    assert reg.head_blob("team/app", Digest.of(data)) is None


def test_blobs_mount_across_repositories(reg: Registry) -> None:
    data = layer(6)
    digest = push_blob(reg, "team/a", data)
    assert reg.mount_blob("team/b", digest, "team/a") is None
    assert reg.head_blob("team/b", digest) == len(data)
    other = layer(8)
    absent = Digest.of(other)
    location = reg.mount_blob("team/c", absent, "team/a")  # nothing there to mount
    assert location is not None
    reg.upload_blob("team/c", absent, len(other), source_of(other), location=location)
    assert reg.head_blob("team/c", absent) == len(other)


def test_retrying_runs_an_operation_again_until_it_succeeds(reg: Registry) -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 2:
            raise Unavailable("connection reset")
        return "done"

    assert reg.retrying(flaky) == "done" and len(attempts) == 2
    with pytest.raises(NotFound):
        reg.retrying(lambda: reg.get_manifest("team/app", "never"))


# -- listings -------------------------------------------------------------------------------


def test_tags_and_catalog_list_everything_across_pages(reg: Registry) -> None:
    image = push_image(reg, "team/app", "v0", [layer(1)])
    tags = [f"v{n}" for n in range(7)]
    for tag in tags[1:]:
        reg.put_manifest("team/app", tag, image.data, image.media_type)
    # Every tag once; distribution 2.8 answers the tags list in one unsorted page.
    assert sorted(reg.list_tags("team/app", page_size=3)) == sorted(tags)
    repositories = ["a/one", "b/two", "c/three", "team/app"]
    for name in repositories[:3]:
        push_image(reg, name, "v1", [layer(2)])
    assert list(reg.catalog(page_size=2)) == repositories
    with pytest.raises(NotFound):
        list(reg.list_tags("team/unknown"))


# -- referrers ------------------------------------------------------------------------------


def test_referrers_are_found_through_the_api_or_the_tag_fallback(reg: Registry) -> None:
    subject = push_image(reg, "team/app", "v1", [layer(1)])
    assert reg.referrers("team/app", subject.digest)[0] == []
    assert reg.referrers_tag("team/app", subject.digest) is None
    signature = push_referrer(reg, "team/app", subject, "application/vnd.dev.sig", b"sig")
    sbom = push_referrer(reg, "team/app", subject, "application/spdx+json", b"{}")
    found, via_api = reg.referrers("team/app", subject.digest)
    assert sorted(d.parsed_digest for d in found) == sorted([signature.digest, sbom.digest])
    assert {d.artifact_type for d in found} == {"application/vnd.dev.sig", "application/spdx+json"}
    fallback = reg.referrers_tag("team/app", subject.digest)
    if via_api:
        assert fallback is None  # the registry indexes them itself: no tag needed
    else:
        assert fallback is not None and fallback.media_type == mt.OCI_INDEX
        assert fallback_tag(subject.digest) in list(reg.list_tags("team/app"))
        assert len(json.loads(fallback.data)["manifests"]) == 2
