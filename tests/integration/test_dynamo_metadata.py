"""The pipeline's metadata cache in the state table (moto in server mode): rows round-trip,
age out by `verified_at` and by the TTL attribute before the sweeper runs, oversized listings
are not kept, and a failing table is a miss, never a failed copy."""

from __future__ import annotations

import boto3
import pytest

from freightliner.adapters.aws.dynamo_metadata import MAX_LISTING_BYTES, DynamoMetadataCache
from freightliner.domain.metadata import ImageRecord, RepositoryListing
from freightliner.harness.aws_resources import create_resources

DIGEST = "sha256:" + "d" * 64


@pytest.fixture
def table(moto_endpoint: str) -> object:
    made = create_resources(
        boto3.client("sqs", region_name="us-east-1"),
        boto3.client("dynamodb", region_name="us-east-1"),
    )
    return boto3.resource("dynamodb", region_name="us-east-1").Table(made.table)


def test_rows_round_trip_and_expire(table: object) -> None:
    now = [1_000_000.0]
    cache = DynamoMetadataCache(table, clock=lambda: now[0])
    cache.remember_blobs("reg.test", "team/app", [DIGEST])
    cache.mark_verified("reg.test", "team/app", "v1", DIGEST)
    listing = RepositoryListing(
        registry="reg.test",
        repository="team/app",
        depth="tags",
        listed_at=now[0],
        images=[ImageRecord(tag="v1", digest=DIGEST)],
    )
    cache.store_listing(listing)
    assert cache.blob_holder("reg.test", DIGEST) == "team/app"
    assert cache.blob_holder("other.test", DIGEST) is None
    assert cache.verified("reg.test", "team/app", "v1", 60) == DIGEST
    assert cache.listing("reg.test", "team/app") == listing
    now[0] += 120
    assert cache.verified("reg.test", "team/app", "v1", 60) is None  # older than asked
    assert cache.verified("reg.test", "team/app", "v1", 600) == DIGEST
    now[0] += 8 * 24 * 3600  # past every row's TTL, before DynamoDB sweeps them
    assert cache.blob_holder("reg.test", DIGEST) is None
    assert cache.listing("reg.test", "team/app") is None


def test_oversized_listings_are_not_kept_and_failures_are_misses(table: object) -> None:
    cache = DynamoMetadataCache(table)
    many = [ImageRecord(tag=f"t{n}", digest=DIGEST) for n in range(MAX_LISTING_BYTES // 80)]
    huge = RepositoryListing(
        registry="reg.test", repository="big", depth="tags", listed_at=1.0, images=many
    )
    cache.store_listing(huge)
    assert cache.listing("reg.test", "big") is None
    missing = DynamoMetadataCache(boto3.resource("dynamodb", region_name="us-east-1").Table("nope"))
    missing.remember_blobs("reg.test", "team/app", [DIGEST])  # dropped with a warning
    assert missing.blob_holder("reg.test", DIGEST) is None
