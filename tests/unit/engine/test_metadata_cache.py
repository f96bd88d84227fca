"""The metadata cache between runs, in process: a no-op resync asks the destination nothing,
`verify` and an expired TTL ask again, a changed source is copied, blobs another repository
of the destination holds are mounted by a later run, and listings with digests at both ends
(ECR, GAR) make a no-op cost listings only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from freightliner.adapters.local.sqlite_metadata import SqliteMetadataCache
from freightliner.adapters.memory.metadata import MemoryMetadataCache
from freightliner.adapters.memory.registry import MemoryRegistries, MemoryRegistry
from freightliner.domain.metadata import ImageRecord, RepositoryListing, companion_subject
from freightliner.domain.reference import Reference
from freightliner.domain.sync import SyncSpec, TaggedImage
from freightliner.engine.copying.copy import Copier
from freightliner.engine.tree.local_sync import run_sync
from freightliner.ports.repositories import RepositoryInfo
from tests.support.oci_images import layer, push_image

SRC, DST = "src.test", "dst.test"


def spec(**extra: Any) -> SyncSpec:
    return SyncSpec.model_validate(
        {
            "name": "prod",
            "source": {"registry": SRC, "prefix": "prod"},
            "destination": {"registry": DST, "prefix": "mirror/prod"},
            "concurrency": 2,
            **extra,
        }
    )


@pytest.fixture
def registries() -> MemoryRegistries:
    registries = MemoryRegistries()
    src = registries.client(SRC)
    for n, repository in enumerate(["prod/api", "prod/web"]):
        for tag in ("v1", "v2", "v3"):
            push_image(src, repository, tag, [layer(n * 10 + int(tag[1]))])
    return registries


def calls(registry: MemoryRegistry) -> int:
    return sum(registry.faults.calls.values())


def test_a_noop_resync_asks_the_destination_nothing(registries: MemoryRegistries) -> None:
    cache = MemoryMetadataCache()
    first = run_sync(spec(), registries, metadata=cache)
    assert (first.copied, first.failed) == (6, 0)
    dst = registries.client(DST)
    before = calls(dst)
    again = run_sync(spec(), registries, metadata=cache)
    assert (again.copied, again.skipped, again.failed) == (0, 6, 0)
    assert calls(dst) == before  # not one destination request
    # without the cache's word the destination is asked: one HEAD per image
    heads = dst.faults.calls["head_manifest"]
    refreshed = run_sync(spec(), registries, metadata=cache, metadata_ttl=0)
    assert refreshed.skipped == 6
    assert dst.faults.calls["head_manifest"] - heads == 6


def test_verify_checks_every_blob_despite_the_cache(registries: MemoryRegistries) -> None:
    cache = MemoryMetadataCache()
    run_sync(spec(), registries, metadata=cache)
    dst = registries.client(DST)
    checks = dst.faults.calls["head_blob"] + dst.faults.calls["mount_blob"]
    verified = run_sync(spec(), registries, metadata=cache, verify=True)
    assert verified.failed == 0
    # config and layer of each of the 6 images, each HEAD-checked (or mounted from where
    # the cache says the registry holds it)
    after = dst.faults.calls["head_blob"] + dst.faults.calls["mount_blob"]
    assert after - checks == 12


def test_a_changed_source_is_copied_though_its_old_copy_was_verified(
    registries: MemoryRegistries,
) -> None:
    cache = MemoryMetadataCache()
    run_sync(spec(), registries, metadata=cache)
    changed = push_image(registries.client(SRC), "prod/api", "v2", [layer(99)])
    again = run_sync(spec(), registries, metadata=cache)
    assert (again.copied, again.skipped) == (1, 5)
    head = registries.client(DST).head_manifest("mirror/prod/api", "v2")
    assert head is not None and head.digest == changed.digest


def test_a_later_run_mounts_blobs_another_repository_holds(registries: MemoryRegistries) -> None:
    cache = MemoryMetadataCache()
    src = Reference.parse(f"{SRC}/prod/api:v1")
    with Copier(registries, metadata=cache) as copier:
        first = copier.copy(src, Reference.parse(f"{DST}/one:v1"))
    assert (first.blobs_copied, first.blobs_mounted) == (2, 0)
    with Copier(registries, metadata=cache) as copier:  # a new run: only the cache remembers
        second = copier.copy(src, Reference.parse(f"{DST}/two:v1"))
    assert (second.blobs_copied, second.blobs_mounted, second.bytes_copied) == (0, 2, 0)
    with Copier(registries) as copier:  # no cache: uploaded again, as before
        third = copier.copy(src, Reference.parse(f"{DST}/three:v1"))
    assert third.blobs_copied == 2


def test_a_stale_blob_location_falls_back_to_an_upload(registries: MemoryRegistries) -> None:
    cache = MemoryMetadataCache()
    image = push_image(registries.client(SRC), "prod/solo", "v1", [layer(7)])
    cache.remember_blobs(DST, "gone", [str(d) for d in image.blobs])
    with Copier(registries, metadata=cache) as copier:
        report = copier.copy(
            Reference.parse(f"{SRC}/prod/solo:v1"), Reference.parse(f"{DST}/solo:v1")
        )
    assert (report.blobs_copied, report.blobs_mounted) == (2, 0)


class _ListingAdmin:
    """A control plane that lists tags with digests (as ECR DescribeImages does), from a
    snapshot taken before the counted run."""

    def __init__(self, listings: dict[str, list[TaggedImage]]) -> None:
        self.listings = listings
        self.calls = 0

    def ensure_repository(self, registry: str, repository: str) -> RepositoryInfo:
        return RepositoryInfo()

    def list_repositories(self, registry: str, prefix: str) -> Iterator[str] | None:
        self.calls += 1
        return iter(sorted(r for r in self.listings if r.startswith(prefix + "/")))

    def list_images(self, registry: str, repository: str) -> Iterator[TaggedImage] | None:
        self.calls += 1
        return iter(self.listings.get(repository, []))


class _Listed:
    def __init__(self, registries: MemoryRegistries, admins: dict[str, _ListingAdmin]) -> None:
        self.registries, self.admins = registries, admins

    def client(self, host: str) -> MemoryRegistry:
        return self.registries.client(host)

    def repository_admin(self, host: str) -> _ListingAdmin:
        return self.admins[host]


def _snapshot(registry: MemoryRegistry) -> dict[str, list[TaggedImage]]:
    listings: dict[str, list[TaggedImage]] = {}
    for repository in registry.catalog():
        for tag in registry.list_tags(repository):
            head = registry.head_manifest(repository, tag)
            assert head is not None
            listings.setdefault(repository, []).append(
                TaggedImage(tag=tag, digest=str(head.digest))
            )
    return listings


def test_listings_at_both_ends_make_a_noop_cost_listings_only(
    registries: MemoryRegistries,
) -> None:
    src, dst = registries.client(SRC), registries.client(DST)
    source_admin = _ListingAdmin(_snapshot(src))
    first = run_sync(spec(), _Listed(registries, {SRC: source_admin, DST: _ListingAdmin({})}))
    assert first.copied == 6
    dest_admin = _ListingAdmin(_snapshot(dst))
    before = calls(src) + calls(dst)
    again = run_sync(spec(), _Listed(registries, {SRC: source_admin, DST: dest_admin}))
    assert (again.copied, again.skipped) == (0, 6)
    assert calls(src) + calls(dst) == before  # no per-image request at either end
    assert dest_admin.calls == 2  # one listing per destination repository


def test_the_sqlite_cache_keeps_entries_and_survives_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "metadata.db"
    cache = SqliteMetadataCache(path)
    cache.mark_verified(DST, "repo", "v1", "sha256:" + "a" * 64)
    cache.remember_blobs(DST, "repo", ["sha256:" + "b" * 64])
    listing = RepositoryListing(
        registry=DST,
        repository="repo",
        depth="images",
        listed_at=1.0,
        images=[ImageRecord(tag="v1", digest="sha256:" + "a" * 64, size=10)],
    )
    cache.store_listing(listing)
    cache.close()
    reopened = SqliteMetadataCache(path)
    assert reopened.verified(DST, "repo", "v1", 60) == "sha256:" + "a" * 64
    assert reopened.verified(DST, "repo", "v1", 0) is None
    assert reopened.blob_holder(DST, "sha256:" + "b" * 64) == "repo"
    assert reopened.listing(DST, "repo") == listing
    reopened.close()
    path.write_bytes(b"not a database" * 100)
    fresh = SqliteMetadataCache(path)
    assert fresh.blob_holder(DST, "sha256:" + "b" * 64) is None
    fresh.close()


def test_companion_tags_name_their_subject() -> None:
    hexa = "c" * 64
    assert companion_subject(f"sha256-{hexa}.sig") == f"sha256:{hexa}"
    assert companion_subject(f"sha256-{hexa}.att") == f"sha256:{hexa}"
    assert companion_subject(f"sha256-{hexa}") is None  # the referrers fallback index tag
    assert companion_subject("v1.sig") is None
    assert companion_subject(f"sha256-{hexa[:10]}.sig") is None


def test_a_first_sync_into_new_repositories_skips_the_heads_a_tags_list_answers(
    registries: MemoryRegistries,
) -> None:
    report = run_sync(spec(concurrency=1), registries, metadata=MemoryMetadataCache())
    assert (report.copied, report.failed) == (6, 0)
    calls_made = registries.client(DST).faults.calls
    assert calls_made["list_tags"] == 2  # one per destination repository ...
    assert calls_made["head_manifest"] == 0  # ... answers every "is this tag there?"
    # A blob this run did not put in a repository that had no tag is uploaded or mounted at
    # once; only a blob it already put there (the shared config) is HEAD-checked.
    assert calls_made["head_blob"] == 4
    for repository in ("api", "web"):
        assert sorted(registries.client(DST).list_tags(f"mirror/prod/{repository}")) == [
            "v1",
            "v2",
            "v3",
        ]
