"""`freightliner sync`: a repository tree with prefix rename and filters, on real registries."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from freightliner.cli.main import main
from freightliner.domain.errors import InvalidInput
from freightliner.domain.sync import parse_sync_file
from freightliner.harness.images import Pusher
from freightliner.harness.registry import LocalRegistry
from tests.support.faulty_proxy import start_proxy

TAGS = ["v1.0.0", "v1.1.0", "v2.0.0", "v2.1.0-rc1", "latest"]
SELECTED = ["v1.1.0", "v2.0.0"]  # semver ">=1.1,<3", prereleases out
STATE = Path()


@pytest.fixture(autouse=True)
def _checkpoints_in_tmp(tmp_path: Path) -> None:
    global STATE  # noqa: PLW0603 - one checkpoint file per test
    STATE = tmp_path / "checkpoints.db"


def seed_tree(registry: LocalRegistry) -> list[str]:
    names = [f"prod/team{n // 10}/svc{n}" for n in range(52)]
    names += ["prod/legacy/old1", "prod/legacy/old2", "dev/svc1"]
    with Pusher(registry.url) as pusher:
        for name in names:
            for tag in TAGS:
                pusher.image(name, tag, [f"{name}:{tag}".encode(), b"shared layer"])
    return names


def sync_file(tmp_path: Path, source: str, dest: str, **extra: object) -> Path:
    spec = {
        "name": "prod-mirror",
        "source": {"registry": source, "prefix": "prod/"},
        "destination": {"registry": dest, "prefix": "mirror/prod"},
        "exclude": ["legacy/**"],
        "semver": ">=1.1,<3",
        "concurrency": 6,
        **extra,
    }
    path = tmp_path / "sync.yaml"
    path.write_text(json.dumps({"syncs": [spec]}))
    return path


def catalog(registry: LocalRegistry) -> dict[str, list[str]]:
    repos = httpx.get(f"{registry.url}/v2/_catalog?n=1000").json()["repositories"] or []
    return {
        repo: sorted(httpx.get(f"{registry.url}/v2/{repo}/tags/list").json()["tags"] or [])
        for repo in repos
    }


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    if args[0] in ("sync", "jobs") and "--state" not in args:
        args = (*args, "--state", str(STATE))
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_tree_lands_exactly_as_planned_and_resync_copies_nothing(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = seed_tree(registry)
    path = sync_file(tmp_path, registry.host, dest_registry.host)
    code, out, err = run(capsys, "sync", str(path), "--json")
    assert code == 0, err
    [report] = json.loads(out)
    assert report["repositories"] == 52 and report["copied"] == 104 and report["failed"] == 0
    expected = {
        name.replace("prod/", "mirror/prod/", 1): SELECTED
        for name in names
        if name.startswith("prod/team")
    }
    assert catalog(dest_registry) == expected
    source_digest = httpx.head(
        f"{registry.url}/v2/prod/team3/svc31/manifests/v2.0.0",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    copied_digest = httpx.head(
        f"{dest_registry.url}/v2/mirror/prod/team3/svc31/manifests/v2.0.0",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert (
        copied_digest.headers["Docker-Content-Digest"]
        == source_digest.headers["Docker-Content-Digest"]
    )
    assert "repositories 52/52" in err  # the final progress line
    code, out, _ = run(capsys, "sync", str(path), "--json")
    [again] = json.loads(out)
    assert code == 0 and again["skipped"] == 104 and again["copied"] == 0 and again["bytes"] == 0


def test_dry_run_plans_and_copies_nothing(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Pusher(registry.url) as pusher:
        for tag in TAGS:
            pusher.image("prod/app", tag, [tag.encode()])
    code, out, _ = run(
        capsys, "sync", str(sync_file(tmp_path, registry.host, dest_registry.host)), "--dry-run"
    )
    assert code == 0
    assert (
        f"copy {registry.host}/prod/app:v1.1.0 -> {dest_registry.host}/mirror/prod/app:v1.1.0"
        in out
    )
    assert "2 to copy" in out
    assert catalog(dest_registry) == {}


def test_a_failing_repository_is_reported_and_the_rest_complete(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Pusher(registry.url) as pusher:
        for name in ("prod/a", "prod/broken", "prod/c"):
            pusher.image(name, "v1.5.0", [name.encode()])
    fake, host, stop = start_proxy(registry.url)
    fake.fail(lambda m, p: "/v2/prod/broken/tags/list" in p, 403, 100)
    try:
        code, out, _ = run(capsys, "sync", str(sync_file(tmp_path, host, dest_registry.host)))
    finally:
        stop()
    assert code == 1
    assert "FAILED prod/broken:*" in out and "access denied" in out
    assert set(catalog(dest_registry)) == {"mirror/prod/a", "mirror/prod/c"}


def test_sync_file_errors_name_line_and_field(tmp_path: Path) -> None:
    text = (
        "syncs:\n  - name: x\n    source: {registry: a.io}\n"
        "    destination: {registry: b.io}\n    semver: '>>1'\n"
    )
    with pytest.raises(InvalidInput, match=r"sync.yaml:5: syncs\.0\.semver: .*invalid semver"):
        parse_sync_file(text, "sync.yaml")
