"""Cosign-style companion tags (`sha256-<hex>.sig`, `.att`, any `sha256-<hex>.*`) follow their
subject with `--referrers`, in `copy` and in tree syncs, on a real docker-registry (which has
no referrers API), with their digests unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from freightliner.cli.main import main
from freightliner.harness.images import OCI_MANIFEST, Pushed, Pusher, cosign_companion
from freightliner.harness.registry import LocalRegistry


def tags(registry: LocalRegistry, repository: str) -> list[str]:
    found = httpx.get(f"{registry.url}/v2/{repository}/tags/list")
    return sorted(found.json().get("tags") or []) if found.status_code == 200 else []


def digest_of(registry: LocalRegistry, repository: str, tag: str) -> str:
    head = httpx.head(
        f"{registry.url}/v2/{repository}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}
    )
    return str(head.headers["Docker-Content-Digest"])


def seed_signed(registry: LocalRegistry, repository: str) -> tuple[Pushed, list[Pushed]]:
    with Pusher(registry.url) as pusher:
        image = pusher.image(repository, "v1", [b"signed layer"])
        pusher.image(repository, "v2", [b"unsigned layer"])
        sig = cosign_companion(pusher, repository, image, "sig")
        att = cosign_companion(pusher, repository, image, "att")
        sig_of_att = cosign_companion(pusher, repository, att, "sig")  # a signed attestation
    return image, [sig, att, sig_of_att]


def companion_tags(image: Pushed, att: Pushed) -> list[str]:
    hexa, att_hex = image.digest.split(":")[1], att.digest.split(":")[1]
    return sorted([f"sha256-{hexa}.sig", f"sha256-{hexa}.att", f"sha256-{att_hex}.sig"])


def test_copy_with_referrers_brings_the_signature_tags_along(
    registry: LocalRegistry, dest_registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    image, (sig, att, sig_of_att) = seed_signed(registry, "app")
    assert main(["copy", f"{registry.host}/app:v1", f"{dest_registry.host}/plain:v1"]) == 0
    assert tags(dest_registry, "plain") == ["v1"]  # without --referrers: the image only
    capsys.readouterr()
    code = main(
        ["copy", f"{registry.host}/app:v1", f"{dest_registry.host}/app:v1", "--referrers", "--json"]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["referrers_copied"] == 3
    assert tags(dest_registry, "app") == sorted(["v1", *companion_tags(image, att)])
    for pushed, tag in zip(
        (sig, att, sig_of_att), (f".{s}" for s in ("sig", "att", "sig")), strict=True
    ):
        subject = image if pushed is not sig_of_att else att
        name = f"sha256-{subject.digest.split(':')[1]}{tag}"
        assert digest_of(dest_registry, "app", name) == pushed.digest
    again = main(
        ["copy", f"{registry.host}/app:v1", f"{dest_registry.host}/app:v1", "--referrers", "--json"]
    )
    assert again == 0 and json.loads(capsys.readouterr().out)["referrers_copied"] == 0


def test_a_tree_sync_with_referrers_carries_companions_with_their_subject(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    image, (_sig, att, _) = seed_signed(registry, "prod/app")
    spec = {
        "name": "signed",
        "source": {"registry": registry.host, "prefix": "prod"},
        "destination": {"registry": dest_registry.host, "prefix": "mirror"},
        "referrers": True,
    }
    path = tmp_path / "sync.yaml"
    path.write_text(json.dumps({"syncs": [spec]}))
    code = main(["sync", str(path), "--state", str(tmp_path / "c.db"), "--json"])
    [report] = json.loads(capsys.readouterr().out)
    assert code == 0 and (report["images"], report["copied"], report["failed"]) == (2, 2, 0)
    assert tags(dest_registry, "mirror/app") == sorted(["v1", "v2", *companion_tags(image, att)])
