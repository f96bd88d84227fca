"""`freightliner copy --compress zstd` between real registries on loopback: the result pulled
back, every layer decompressed and held to the config's diff_ids; a destination that refuses
the OCI/zstd manifest still gets the image, in its original layers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.cli.main import main
from freightliner.domain import mediatypes as mt
from freightliner.domain.compression import COMPRESSED_FROM
from freightliner.domain.digest import Digest
from freightliner.harness.registry import LocalRegistry
from freightliner.ports.registry import Registry
from tests.support.faulty_proxy import start_proxy
from tests.support.layer_images import (
    config_diff_ids,
    push_layered_image,
    tar_of,
    text_files,
    unpacked_layers,
)

REFUSAL = json.dumps(
    {"errors": [{"code": "MANIFEST_INVALID", "message": "manifest media type not supported"}]}
).encode()


@pytest.fixture
def clients() -> Iterator[RegistryClients]:
    container = RegistryClients()
    yield container
    container.close()


def cli_copy(capsys: pytest.CaptureFixture[str], src: str, dst: str, *extra: str) -> dict:  # type: ignore[type-arg]
    code = main(["copy", src, dst, "--json", *extra])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def seed(source: Registry) -> list[bytes]:
    archives = [tar_of(text_files(seed, count=60)) for seed in (1, 2, 3)]
    push_layered_image(source, "team/app", "v1", archives, docker=True)
    return archives


def test_copy_compress_lands_zstd_layers_that_unpack_to_the_diff_ids(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    clients: RegistryClients,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, dest = clients.client(registry.host), clients.client(dest_registry.host)
    archives = seed(source)
    src, dst = f"{registry.host}/team/app:v1", f"{dest_registry.host}/mirror/app:v1"
    report = cli_copy(capsys, src, dst, "--compress", "zstd:9")
    assert report["status"] == "copied" and report["digest_changed"]
    assert report["layers_compressed"] == 3
    assert 0 < report["compress_bytes_after"] < report["compress_bytes_before"]
    assert report["compress_seconds"] > 0

    pulled = dest.get_manifest("mirror/app", "v1")
    assert str(pulled.digest) == report["digest"]
    assert pulled.media_type == mt.OCI_MANIFEST
    assert [layer.media_type for layer in pulled.manifest.layers] == [mt.OCI_LAYER_ZSTD] * 3
    assert json.loads(pulled.data)["annotations"][COMPRESSED_FROM] == report["source_digest"]
    assert unpacked_layers(dest, "mirror/app", "v1") == config_diff_ids(dest, "mirror/app", "v1")
    assert unpacked_layers(dest, "mirror/app", "v1") == [Digest.of(a) for a in archives]

    again = cli_copy(capsys, src, dst, "--compress", "zstd:9")
    assert again["status"] == "up-to-date" and again["digest"] == report["digest"]
    assert again["bytes_copied"] == 0

    code = main(["copy", src, f"{dest_registry.host}/mirror/other:v1", "--compress", "zstd:9"])
    summary = capsys.readouterr().out
    assert code == 0 and "compression " in summary and "3 layers zstd" in summary


def test_a_destination_refusing_the_oci_manifest_still_gets_the_original_image(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    clients: RegistryClients,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = clients.client(registry.host)
    seed(source)
    original = source.get_manifest("team/app", "v1")
    fake, host, stop = start_proxy(dest_registry.url)
    try:
        fake.fail(
            lambda method, path: method == "PUT" and "/manifests/" in path,
            415,
            times=10,
            body=REFUSAL,
            headers={"Content-Type": "application/json"},
            header=("content-type", mt.OCI_MANIFEST),
        )
        report = cli_copy(
            capsys, f"{registry.host}/team/app:v1", f"{host}/mirror/app:v1", "--compress", "zstd"
        )
    finally:
        stop()
    assert report["compress_fallback"] and report["status"] == "copied"
    assert report["digest"] == str(original.digest) and not report["digest_changed"]
    landed = clients.client(dest_registry.host).get_manifest("mirror/app", "v1")
    assert landed.data == original.data
    assert unpacked_layers(clients.client(dest_registry.host), "mirror/app", "v1") == (
        config_diff_ids(source, "team/app", "v1")
    )
