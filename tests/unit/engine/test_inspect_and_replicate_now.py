"""`inspect_image` and the console's `replicate_now`, in process on in-memory registries."""

from __future__ import annotations

import pytest

from freightliner.adapters.memory.registry import MemoryRegistries
from freightliner.domain.errors import NotFound
from freightliner.domain.reference import Reference
from freightliner.engine.copying.inspect import inspect_image
from freightliner.engine.copying.replicate_now import ReplicateNowRequest, replicate_now
from tests.support.oci_images import layer, push_image, push_multi_platform

SRC, DST = "src.test", "dst.test"


def test_inspect_sums_every_platform_without_reading_a_layer() -> None:
    registries = MemoryRegistries()
    src = registries.client(SRC)
    index = push_multi_platform(src, "team/app", "v1")
    summary = inspect_image(src, Reference.parse(f"{SRC}/team/app:v1"))
    assert summary.digest == str(index.digest)
    assert [p.platform for p in summary.platforms] == ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    blob_bytes = sum(
        sum(src.head_blob("team/app", b) or 0 for b in child.blobs) for child in index.children
    )
    manifests = len(index.data) + sum(len(child.data) for child in index.children)
    assert summary.size == blob_bytes + manifests
    assert src.faults.calls["open_blob"] == 0


def test_replicate_now_copies_one_image_and_reports_it() -> None:
    registries = MemoryRegistries()
    image = push_image(registries.client(SRC), "team/app", "v1", [layer(1)])
    request = ReplicateNowRequest(source=f"{SRC}/team/app:v1", destination=f"{DST}/team/app:v1")
    report = replicate_now(request, registries, jobs=2)
    assert report.status == "copied" and report.digest == str(image.digest)
    missing = ReplicateNowRequest(source=f"{SRC}/team/app:v9", destination=f"{DST}/team/app:v9")
    with pytest.raises(NotFound):
        replicate_now(missing, registries, jobs=2)
