"""`inspect --raw`, `inspect --config` and `digest` against a real registry, through the CLI."""

from __future__ import annotations

import hashlib
import json

import pytest

from freightliner.cli.main import main
from freightliner.harness.images import Pusher
from freightliner.harness.registry import LocalRegistry
from tests.support.skopeo import skopeo_digest


def run_cli_bytes(capsysbinary: pytest.CaptureFixture[bytes], *args: str) -> tuple[int, bytes]:
    code = main(list(args))
    return code, capsysbinary.readouterr().out


def test_inspect_raw_prints_the_served_bytes_exactly(
    registry: LocalRegistry, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    with Pusher(registry.url) as pusher:
        index = pusher.multi_platform("team/app", "v1")
    code, out = run_cli_bytes(capsysbinary, "inspect", "--raw", f"{registry.host}/team/app:v1")
    assert code == 0
    assert out == index.data
    assert "sha256:" + hashlib.sha256(out).hexdigest() == index.digest

    arm = next(c for c in index.children if c.platform == "linux/arm64")
    code, out = run_cli_bytes(
        capsysbinary,
        "inspect",
        "--raw",
        "--platform",
        "linux/arm64",
        f"{registry.host}/team/app:v1",
    )
    assert (code, out) == (0, arm.data)


def test_inspect_config_prints_the_platform_config_blob(
    registry: LocalRegistry, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    with Pusher(registry.url) as pusher:
        pusher.multi_platform("team/app", "v1")
        single = pusher.image("team/one", "v1", [b"layer"], platform="linux/s390x")
    code, out = run_cli_bytes(capsysbinary, "inspect", "--config", f"{registry.host}/team/app:v1")
    assert code == 0
    assert json.loads(out)["architecture"] == "amd64"  # the default platform of an index
    code, out = run_cli_bytes(
        capsysbinary,
        "inspect",
        "--config",
        "--platform",
        "linux/arm64",
        f"{registry.host}/team/app:v1",
    )
    assert json.loads(out)["architecture"] == "arm64"
    code, out = run_cli_bytes(capsysbinary, "inspect", "--config", f"{registry.host}/team/one:v1")
    config = json.loads(out)
    assert (config["os"], config["architecture"]) == ("linux", "s390x")
    assert "sha256:" + hashlib.sha256(out).hexdigest() == single.blobs[0]


def test_inspect_config_for_a_platform_the_index_lacks_is_not_found(
    registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    with Pusher(registry.url) as pusher:
        pusher.multi_platform("team/app", "v1", platforms=("linux/amd64",))
    code = main(
        ["inspect", "--config", "--platform", "windows/amd64", f"{registry.host}/team/app:v1"]
    )
    assert code == 3
    assert "no manifest for windows/amd64" in capsys.readouterr().err


def test_digest_prints_what_skopeo_resolves(
    registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    with Pusher(registry.url) as pusher:
        index = pusher.multi_platform("team/app", "v1")
    ref = f"{registry.host}/team/app:v1"
    assert main(["digest", ref]) == 0
    out = capsys.readouterr().out
    assert out == f"{index.digest}\n"
    assert out.strip() == skopeo_digest(ref)
    assert main(["digest", "--json", f"{registry.host}/team/app@{index.digest}"]) == 0
    assert json.loads(capsys.readouterr().out)["digest"] == index.digest
    assert main(["digest", f"{registry.host}/team/app:nope"]) == 3


def test_platform_without_raw_or_config_and_raw_with_json_are_refused(
    registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = f"{registry.host}/team/app:v1"
    assert main(["inspect", "--platform", "linux/arm64", ref]) == 2
    assert main(["inspect", "--raw", "--json", ref]) == 2
    with pytest.raises(SystemExit) as exited:
        main(["inspect", "--raw", "--config", ref])
    assert exited.value.code == 2


def test_one_character_repository_on_a_local_registry_is_accepted(
    registry: LocalRegistry, dest_registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    with Pusher(registry.url) as pusher:
        image = pusher.image("x", "v1", [b"layer"])
    assert main(["copy", f"{registry.host}/x:v1", f"{dest_registry.host}/y:v1"]) == 0
    capsys.readouterr()
    assert main(["digest", f"{dest_registry.host}/y:v1"]) == 0
    assert capsys.readouterr().out.strip() == image.digest == skopeo_digest(f"{registry.host}/x:v1")
