"""Sync definitions: selection, renaming and tag filters (pure)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from freightliner.domain.errors import InvalidInput
from freightliner.domain.sync import SyncSpec, TaggedImage, parse_sync_file

ROOT = Path(__file__).resolve().parents[2]


def spec(**extra: object) -> SyncSpec:
    return SyncSpec.model_validate(
        {
            "name": "s",
            "source": {"registry": "a.io", "prefix": "prod/"},
            "destination": {"registry": "b.io", "prefix": "mirror/prod"},
            **extra,
        }
    )


def test_example_sync_file_loads() -> None:
    [example] = parse_sync_file((ROOT / "config/sync.example.yaml").read_text()).syncs
    assert example.destination.prefix == "my-project/mirror/prod"
    assert example.filter_tags(["v1.0.0", "v2.0.0-rc1", "latest", "v2.9.1", "v3.0.0"]) == [
        "v1.0.0",
        "v2.9.1",
    ]
    assert example.schedule == "rate(1 day)"


def test_prefix_rename_and_globs() -> None:
    s = spec(include=["team*/**"], exclude=["**/tmp"])
    assert s.selects("prod/team1/api") and not s.selects("dev/team1/api")
    assert not s.selects("prod/team1/tmp") and not s.selects("prod/other")
    assert s.destination_repository("prod/team1/api") == "mirror/prod/team1/api"
    with pytest.raises(InvalidInput, match="outside source prefix"):
        s.destination_repository("dev/x")


def test_tag_filters_compose() -> None:
    tags = ["v1.0.0", "v1.2.0", "1.3.0", "v2.0.0", "v2.1.0-beta", "latest", "main"]
    assert spec(semver=">=1.2").filter_tags(tags) == ["1.3.0", "v1.2.0", "v2.0.0"]
    assert spec(highest=2).filter_tags(tags) == ["v2.0.0", "v2.1.0-beta"]
    assert spec(highest=2, semver=">=1").filter_tags(tags) == ["1.3.0", "v2.0.0"]
    assert spec(tags={"include": ["^v1"]}).filter_tags(tags) == ["v1.0.0", "v1.2.0"]
    assert spec().filter_tags(tags) == sorted(tags)


def test_latest_means_last_pushed_not_highest_version() -> None:
    day = datetime(2026, 11, 1, tzinfo=UTC)
    images = [
        TaggedImage(tag="v9.0.0", pushed_at=day),
        TaggedImage(tag="v1.0.0", pushed_at=day + timedelta(days=3)),
        TaggedImage(tag="main", pushed_at=day + timedelta(days=2)),
        TaggedImage(tag="old", pushed_at=day - timedelta(days=1)),
    ]
    assert [i.tag for i in spec(latest=2).select(images)] == ["main", "v1.0.0"]
    assert [i.tag for i in spec(latest=2, semver=">=1").select(images)] == ["v1.0.0", "v9.0.0"]
    with pytest.raises(InvalidInput, match="push times"):
        spec(latest=1).select([TaggedImage(tag="v1")])


def test_schedules_are_checked() -> None:
    assert spec(schedule="cron(0 3 * * ? *)").schedule == "cron(0 3 * * ? *)"
    assert spec(schedule="rate(6 hours)").schedule == "rate(6 hours)"
    for bad in ("every day", "rate(0 hours)", "cron(0 3 * *)"):
        with pytest.raises(ValueError, match="invalid schedule"):
            spec(schedule=bad)


def test_bad_definitions_are_refused() -> None:
    with pytest.raises(ValueError, match="same tree"):
        SyncSpec.model_validate(
            {"name": "s", "source": {"registry": "a.io"}, "destination": {"registry": "a.io"}}
        )
    with pytest.raises(InvalidInput, match=r"syncs\.0\.source\.prefix"):
        parse_sync_file(
            "syncs:\n  - name: s\n    source: {registry: a.io, prefix: Bad/X}\n"
            "    destination: {registry: b.io}\n"
        )
    with pytest.raises(InvalidInput, match="unique"):
        parse_sync_file(
            "syncs:\n" + "  - {name: s, source: {registry: a.io}, "
            "destination: {registry: b.io}}\n" * 2
        )
