"""What only the in-memory registry offers (the conformance suite covers the shared
contract): scheduled faults, tampered content, upload offsets, immutable tags, page counts."""

from __future__ import annotations

import pytest

from freightliner.adapters.memory.faults import Faults
from freightliner.adapters.memory.registry import MemoryRegistries, MemoryRegistry
from freightliner.domain.digest import Digest
from freightliner.domain.errors import (
    DigestMismatch,
    InvalidInput,
    NotFound,
    RateLimited,
    TagConflict,
    Unavailable,
    Where,
)
from tests.support.oci_images import layer, push_blob, push_image, source_of


def test_faults_fire_on_the_scheduled_calls_only() -> None:
    faults = Faults(["op"])
    faults.fail("op", Unavailable, times=2, after=1)  # calls 2 and 3 from now
    faults.fail("op", lambda where: RateLimited("slow down", where, retry_after=3.0))  # call 1
    with pytest.raises(RateLimited) as raised:
        faults.check("op", Where())
    assert raised.value.retry_after == 3.0
    for _ in range(2):
        with pytest.raises(Unavailable, match="injected fault"):
            faults.check("op", Where(registry="r"))
    faults.check("op", Where())
    assert faults.calls["op"] == 4 and faults.pending("op") == 0
    with pytest.raises(ValueError, match="unknown operation"):
        faults.fail("nope", Unavailable)


def test_an_injected_fault_names_where_it_happened() -> None:
    reg = MemoryRegistry("reg.test")
    reg.faults.fail("head_manifest", Unavailable)
    with pytest.raises(Unavailable) as raised:
        reg.head_manifest("team/app", "v1")
    assert raised.value.where == Where("reg.test", "team/app", "v1", "HEAD manifest")
    assert reg.head_manifest("team/app", "v1") is None


def test_a_fault_can_break_a_blob_stream_midway() -> None:
    reg = MemoryRegistry(read_chunk_size=1000)
    digest = push_blob(reg, "team/app", layer(1, 5000))
    reg.faults.fail("read_blob_chunk", Unavailable, after=2)
    with pytest.raises(Unavailable), reg.open_blob("team/app", digest) as chunks:
        received = [next(chunks), next(chunks)]
        assert sum(map(len, received)) == 2000
        next(chunks)


def test_tampered_content_fails_verification_when_read() -> None:
    reg = MemoryRegistry()
    image = push_image(reg, "team/app", "v1", [layer(1)])
    reg.tamper_blob(image.blobs[1], b"evil bytes")
    with pytest.raises(DigestMismatch):
        reg.get_blob("team/app", image.blobs[1])
    reg.tamper_manifest("team/app", image.digest, image.data + b" ")
    for reference in ("v1", str(image.digest)):
        with pytest.raises(DigestMismatch):
            reg.get_manifest("team/app", reference)


def test_upload_sessions_take_chunks_at_their_offset_only() -> None:
    reg = MemoryRegistry()
    data = layer(2, 3000)
    location = reg.start_upload("team/app")
    assert reg.patch_upload(location, 0, data[:1000]) == 1000
    with pytest.raises(InvalidInput, match="starts at 500"):
        reg.patch_upload(location, 500, data[1000:2000])
    assert reg.upload_offset("team/app", location) == 1000
    reg.patch_upload(location, 1000, data[1000:2000])
    reg.finish_upload(location, Digest.of(data), data[2000:])
    assert reg.head_blob("team/app", Digest.of(data)) == 3000
    assert reg.open_sessions == 0
    with pytest.raises(NotFound):  # a finished session is gone
        reg.patch_upload(location, 3000, b"more")


def test_a_chunked_upload_sends_each_chunk_in_order() -> None:
    reg = MemoryRegistry(chunk_size=1024)
    data = layer(3, 1024 * 3 + 10)
    reg.upload_blob("team/app", Digest.of(data), len(data), source_of(data))
    assert reg.faults.calls["patch_upload"] == 3 and reg.faults.calls["finish_upload"] == 1


def test_a_failed_chunk_leaves_nothing_committed() -> None:
    reg = MemoryRegistry(chunk_size=1024)
    data = layer(4, 4096)
    reg.faults.fail("patch_upload", Unavailable, after=1)
    with pytest.raises(Unavailable):
        reg.upload_blob("team/app", Digest.of(data), len(data), source_of(data))
    assert reg.head_blob("team/app", Digest.of(data)) is None


def test_retrying_gives_up_after_its_attempts() -> None:
    reg = MemoryRegistry(retry_attempts=2)
    reg.faults.fail("get_manifest", Unavailable, times=2)
    with pytest.raises(Unavailable):
        reg.retrying(lambda: reg.get_manifest("team/app", "v1"))
    assert reg.faults.calls["get_manifest"] == 2


def test_immutable_tags_do_not_move() -> None:
    reg = MemoryRegistry()
    reg.set_immutable("team/app")
    first = push_image(reg, "team/app", "v1", [layer(1)])
    second = push_image(reg, "team/app", None, [layer(2)])
    with pytest.raises(TagConflict):
        reg.put_manifest("team/app", "v1", second.data, second.media_type)
    reg.put_manifest("team/app", "v1", first.data, first.media_type)  # same digest: fine
    head = reg.head_manifest("team/app", "v1")
    assert head is not None and head.digest == first.digest


def test_listings_ask_one_request_per_page() -> None:
    reg = MemoryRegistry()
    image = push_image(reg, "team/app", "t00", [layer(1)])
    for n in range(1, 10):
        reg.put_manifest("team/app", f"t{n:02d}", image.data, image.media_type)
    assert list(reg.list_tags("team/app", page_size=4)) == [f"t{n:02d}" for n in range(10)]
    assert reg.faults.calls["list_tags"] == 3
    reg.faults.fail("list_tags", Unavailable, after=1)
    pages = reg.list_tags("team/app", page_size=4)
    assert [next(pages) for _ in range(4)] == ["t00", "t01", "t02", "t03"]
    with pytest.raises(Unavailable):
        next(pages)


def test_registries_are_one_per_host_with_their_own_admin() -> None:
    registries = MemoryRegistries()
    one = registries.client("one.test")
    assert registries.client("one.test") is one and registries.client("two.test") is not one
    one.set_immutable("locked/app")
    admin = registries.repository_admin("one.test")
    assert admin.ensure_repository("one.test", "locked/app").tags_immutable
    info = admin.ensure_repository("one.test", "new/app")
    assert info.created and not info.tags_immutable
    assert admin.list_repositories("one.test", "") is None
