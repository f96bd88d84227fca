"""`copy --compress zstd`: in process, on in-memory registries. Layers transcoded with their
diff_ids intact, Docker manifests turned OCI, small savings kept as they are, a refusing
destination still served, referrers not attached to the new digest, corrupt input refused."""

from __future__ import annotations

import gzip
import json
import os

import pytest
import zstandard

from freightliner.adapters.memory.registry import MemoryRegistries, MemoryRegistry
from freightliner.domain import mediatypes as mt
from freightliner.domain.compression import COMPRESSED_FROM, Compression
from freightliner.domain.digest import Digest
from freightliner.domain.errors import DigestMismatch, InvalidInput
from freightliner.domain.events import ImageEvent
from freightliner.domain.reference import Reference
from freightliner.domain.rules import parse_rules
from freightliner.domain.sync import SyncSpec
from freightliner.domain.work import WorkItem
from freightliner.engine.copying import compressing
from freightliner.engine.copying.copy import Copier
from freightliner.engine.copying.models import CopyOptions, CopyReport
from freightliner.engine.copying.transcode import measure, transcoded
from freightliner.engine.events.intake import accept_event
from freightliner.engine.events.planning import plan_event
from freightliner.engine.jobs.worker import process_item
from freightliner.engine.tree.local_sync import run_sync
from tests.support.layer_images import (
    config_diff_ids,
    push_layered_image,
    tar_of,
    text_files,
    unpacked_layers,
)
from tests.support.memory_work import (
    MemoryNotifier,
    MemoryQueue,
    MemoryRejectionLog,
    MemoryStateStore,
)
from tests.support.oci_images import push_index, push_referrer, source_of

SRC, DST = "src.test", "dst.test"


@pytest.fixture
def registries() -> MemoryRegistries:
    return MemoryRegistries(chunk_size=64 * 1024, referrers_api=False)


@pytest.fixture
def src(registries: MemoryRegistries) -> MemoryRegistry:
    return registries.client(SRC)


@pytest.fixture
def dst(registries: MemoryRegistries) -> MemoryRegistry:
    return registries.client(DST)


def copy(registries: MemoryRegistries, compress: str = "zstd:9", **options: object) -> CopyReport:
    opts = CopyOptions.model_validate({"compress": compress, **options})
    with Copier(registries, opts) as copier:
        return copier.copy(
            Reference.parse(f"{SRC}/team/app:v1"), Reference.parse(f"{DST}/m/app:v1")
        )


def archives() -> list[bytes]:
    return [tar_of(text_files(seed)) for seed in (1, 2, 3)]


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker-v2"])
def test_layers_become_zstd_and_unpack_to_the_configs_diff_ids(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry, docker: bool
) -> None:
    image = push_layered_image(src, "team/app", "v1", archives(), docker=docker)
    report = copy(registries, "zstd:9")
    assert report.status == "copied" and report.digest_changed
    assert report.source_digest == str(image.digest) and report.digest != str(image.digest)
    assert (report.layers_compressed, report.layers_kept) == (3, 0)
    gz_sizes = sum(len(src.get_blob("team/app", blob)) for blob in image.blobs[1:])
    assert report.compress_bytes_before == gz_sizes
    assert 0 < report.compress_bytes_after < gz_sizes and report.compress_ratio < 1
    written = dst.get_manifest("m/app", "v1")
    assert written.digest == Digest.parse(report.digest)
    assert written.media_type == report.media_type == mt.OCI_MANIFEST
    assert {layer.media_type for layer in written.manifest.layers} == {mt.OCI_LAYER_ZSTD}
    assert written.manifest.config is not None
    assert written.manifest.config.media_type == mt.OCI_CONFIG
    assert written.manifest.config.parsed_digest == image.blobs[0]  # the config is unchanged
    assert json.loads(written.data)["annotations"][COMPRESSED_FROM] == str(image.digest)
    assert unpacked_layers(dst, "m/app", "v1") == config_diff_ids(dst, "m/app", "v1")
    assert unpacked_layers(dst, "m/app", "v1") == [Digest.of(a) for a in archives()]

    uploads = dst.faults.calls["start_upload"]
    again = copy(registries, "zstd:9")
    assert again.status == "up-to-date" and again.digest == report.digest
    assert dst.faults.calls["start_upload"] == uploads  # a resync neither reads nor uploads


def test_plain_tar_layers_are_compressed_too(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    push_layered_image(src, "team/app", "v1", archives(), gzipped=False)
    report = copy(registries)
    assert report.layers_compressed == 3
    assert report.compress_bytes_after < report.compress_bytes_before / 5
    assert unpacked_layers(dst, "m/app", "v1") == [Digest.of(a) for a in archives()]


def test_a_layer_zstd_barely_shrinks_stays_as_it_is(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    noise = tar_of({"blob.bin": os.urandom(300_000)})  # gzip and zstd both gain nothing
    image = push_layered_image(src, "team/app", "v1", [noise, archives()[0]])
    report = copy(registries)
    assert (report.layers_compressed, report.layers_kept) == (1, 1)
    layers = dst.get_manifest("m/app", "v1").manifest.layers
    assert [layer.media_type for layer in layers] == [mt.OCI_LAYER_GZIP, mt.OCI_LAYER_ZSTD]
    assert layers[0].parsed_digest == image.blobs[1]

    only_noise = push_layered_image(src, "team/app", "v1", [noise])
    report = copy(registries)
    assert (report.layers_compressed, report.layers_kept) == (0, 1)
    assert report.digest == str(only_noise.digest) and not report.digest_changed


def test_a_destination_that_refuses_zstd_gets_the_original_image(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    dst.refused_layer_types.add(mt.OCI_LAYER_ZSTD)
    image = push_layered_image(src, "team/app", "v1", archives(), docker=True)
    report = copy(registries)
    assert report.compress_fallback and report.status == "copied"
    assert report.digest == str(image.digest) and not report.digest_changed
    assert dst.get_manifest("m/app", "v1").data == image.data
    for blob in image.blobs:
        assert dst.head_blob("m/app", blob) is not None


def test_an_index_points_at_its_transcoded_children(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    children = [
        push_layered_image(src, "team/app", None, [tar_of(text_files(n))], platform=platform)
        for n, platform in enumerate(("linux/amd64", "linux/arm64"))
    ]
    index = push_index(src, "team/app", "v1", children, docker=True)
    report = copy(registries)
    assert report.layers_compressed == 2 and report.digest != str(index.digest)
    written = dst.get_manifest("m/app", "v1")
    assert written.media_type == mt.OCI_INDEX
    assert json.loads(written.data)["annotations"][COMPRESSED_FROM] == str(index.digest)
    for entry, child in zip(written.manifest.manifests, children, strict=True):
        assert entry.media_type == mt.OCI_MANIFEST and entry.parsed_digest != child.digest
        assert entry.platform is not None and entry.platform.architecture in child.platform
        assert unpacked_layers(dst, "m/app", entry.digest) == config_diff_ids(
            dst, "m/app", entry.digest
        )


def test_referrers_of_the_source_digest_are_not_attached_to_the_new_one(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    image = push_layered_image(src, "team/app", "v1", archives())
    push_referrer(src, "team/app", image, "application/vnd.dev.cosign.signature", b"sig")
    report = copy(registries, referrers=True)
    assert report.referrers_skipped == 1 and report.referrers_copied == 0
    assert dst.referrers("m/app", Digest.parse(report.digest)) == ([], False)
    assert dst.head_manifest("m/app", str(image.digest)) is None


def test_a_layer_whose_content_is_not_its_diff_id_is_refused_before_any_manifest(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    image = push_layered_image(src, "team/app", "v1", archives())
    doc = json.loads(image.data)
    config = json.loads(src.get_blob("team/app", image.blobs[0]))
    config["rootfs"]["diff_ids"][1] = str(Digest.of(b"something else"))
    forged = json.dumps(config).encode()
    src.upload_blob("team/app", Digest.of(forged), len(forged), source_of(forged))
    doc["config"].update(digest=str(Digest.of(forged)), size=len(forged))
    src.put_manifest("team/app", "v1", json.dumps(doc).encode(), mt.OCI_MANIFEST)
    with pytest.raises(DigestMismatch):
        copy(registries)
    assert dst.head_manifest("m/app", "v1") is None


def test_layers_too_large_to_spool_are_transcoded_twice_with_the_same_bytes(
    registries: MemoryRegistries,
    src: MemoryRegistry,
    dst: MemoryRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(compressing, "SPOOL_LIMIT", 1024)
    push_layered_image(src, "team/app", "v1", archives())
    reads = src.faults.calls["open_blob"]
    report = copy(registries, "zstd:19")
    assert report.layers_compressed == 3
    # each layer measured, then streamed into its upload; the config read, then copied
    assert src.faults.calls["open_blob"] - reads == 3 * 2 + 2
    assert unpacked_layers(dst, "m/app", "v1") == [Digest.of(a) for a in archives()]


# -- the streaming transformer ---------------------------------------------------------------


def _transcode(gz: bytes, plain: bytes, give_up: int | None = None) -> bytes | None:
    out = bytearray()
    chunks = [gz[i : i + 1000] for i in range(0, len(gz), 1000)]
    stream = transcoded(
        iter(chunks),
        source=Digest.of(gz),
        source_size=len(gz),
        diff_id=Digest.of(plain),
        gzipped=True,
        level=3,
    )
    return bytes(out) if measure(stream, out.extend, give_up) is not None else None


def test_concatenated_gzip_members_and_trailing_padding_decode_as_one_stream() -> None:
    plain = b"".join(tar_of(text_files(n)) for n in range(3))
    gz = gzip.compress(plain[:5000]) + gzip.compress(plain[5000:]) + b"\0" * 512
    out = _transcode(gz, plain)
    assert out is not None
    assert zstandard.ZstdDecompressor().decompressobj().decompress(out) == plain


def test_a_gzip_bomb_is_drawn_in_bounded_pieces() -> None:
    plain = b"\0" * (16 * 1024 * 1024)
    gz = gzip.compress(plain, 9)
    pieces = transcoded(
        iter([gz]),
        source=Digest.of(gz),
        source_size=len(gz),
        diff_id=Digest.of(plain),
        gzipped=True,
        level=1,
    )
    assert sum(len(p) for p in pieces) < len(gz)  # bounded pieces, never 16 MB at once


def test_truncated_or_foreign_bytes_are_refused() -> None:
    plain = tar_of(text_files(7))
    gz = gzip.compress(plain)
    with pytest.raises(InvalidInput, match="ends in the middle"):
        _transcode(gz[:-20], plain)
    with pytest.raises(InvalidInput, match="not valid gzip"):
        _transcode(b"not gzip at all" * 10, plain)


def test_the_output_stops_once_it_cannot_save_enough() -> None:
    plain = os.urandom(200_000)
    gz = gzip.compress(plain)
    assert _transcode(gz, plain, give_up=len(gz) // 2) is None


@pytest.mark.parametrize(
    ("text", "level"), [("zstd", 9), ("zstd:1", 1), ("zstd:19", 19), (" zstd:9 ", 9)]
)
def test_compression_is_written_zstd_or_zstd_level(text: str, level: int) -> None:
    spec = Compression.model_validate(text)
    assert spec.level == level and str(spec) == f"zstd:{level}"


@pytest.mark.parametrize("text", ["gzip", "zstd:0", "zstd:23", "zstd:fast", "zstd:"])
def test_other_compressions_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Compression.model_validate(text)


# -- where compression is asked for ----------------------------------------------------------


RULES = """
rules:
  - name: small
    source: {registry: src.test, repository: "team/**"}
    destinations: [{registry: dst.test}]
    compress: zstd:19
  - name: tuned
    source: {registry: src.test, repository: "team/**"}
    destinations: [{registry: dst.test, repository: "tuned/{name}"}]
    compress: {level: 9, min_saving: 0.25}
  - name: default
    source: {registry: src.test, repository: "team/**"}
    destinations: [{registry: dst.test, repository: "default/{name}"}]
    compress: true
  - name: plain
    source: {registry: src.test, repository: "team/**"}
    destinations: [{registry: dst.test, repository: "plain/{name}"}]
"""


def test_rules_ask_for_compression_and_their_work_items_carry_it() -> None:
    rules = parse_rules(RULES)
    event = ImageEvent(
        event_id="e1",
        action="push",
        registry=SRC,
        repository="team/app",
        digest=str(Digest.of(b"x")),
        tag="v1",
    )
    items = {item.rule: item for item in plan_event(event, rules).items}
    assert items["small"].compress == Compression(level=19)
    assert items["tuned"].compress == Compression(level=9, min_saving=0.25)
    assert items["default"].compress == Compression()
    assert items["plain"].compress is None
    again = WorkItem.model_validate_json(items["tuned"].model_dump_json())
    assert again.compress == items["tuned"].compress  # it survives the queue


def test_a_sync_document_asks_for_compression() -> None:
    spec = SyncSpec.model_validate(
        {
            "name": "s",
            "source": {"registry": SRC, "prefix": "team"},
            "destination": {"registry": DST, "prefix": "m"},
            "compress": "zstd:3",
        }
    )
    assert spec.compress == Compression(level=3)
    with pytest.raises(ValueError, match="compress"):
        SyncSpec.model_validate({**spec.model_dump(), "compress": "brotli"})


def test_a_local_sync_transcodes_and_sums_what_it_saved(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    push_layered_image(src, "team/app", "v1", archives())
    push_layered_image(src, "team/api", "v2", archives()[:1])
    spec = SyncSpec.model_validate(
        {
            "name": "s",
            "source": {"registry": SRC, "prefix": "team"},
            "destination": {"registry": DST, "prefix": "m"},
            "compress": "zstd:9",
        }
    )
    report = run_sync(spec, registries)
    assert (report.copied, report.layers_compressed) == (2, 4)
    assert 0 < report.compress_bytes_after < report.compress_bytes_before
    assert dst.get_manifest("m/app", "v1").manifest.layers[0].media_type == mt.OCI_LAYER_ZSTD
    again = run_sync(spec, registries)
    assert (again.copied, again.skipped) == (0, 2)  # the transcoded copies are recognised


def test_a_rule_with_compression_runs_through_the_worker(
    registries: MemoryRegistries, src: MemoryRegistry, dst: MemoryRegistry
) -> None:
    rules = parse_rules(
        "rules:\n  - name: small\n"
        f"    source: {{registry: {SRC}, repository: 'team/*'}}\n"
        f"    destinations: [{{registry: {DST}, repository: 'm/{{name}}'}}]\n"
        "    compress: zstd:9\n"
    )
    image = push_layered_image(src, "team/app", "v1", archives())
    queue, state, notifier = MemoryQueue(), MemoryStateStore(), MemoryNotifier()
    event = ImageEvent(
        event_id="e-1",
        action="push",
        registry=SRC,
        repository="team/app",
        digest=str(image.digest),
        tag="v1",
    )
    accept_event(event, rules, queue=queue, state=state, gate=None, notifier=notifier)
    item = queue.take()
    assert item is not None and item.compress == Compression(level=9)
    outcome = process_item(
        item,
        registries,
        state,
        rules=lambda: rules,
        rejections=MemoryRejectionLog(),
        notifier=notifier,
    )
    assert outcome.outcome == "done" and outcome.digest != str(image.digest)
    assert outcome.compress_bytes_after < outcome.compress_bytes_before
    written = dst.get_manifest("m/app", "v1")
    assert str(written.digest) == outcome.digest
    assert unpacked_layers(dst, "m/app", "v1") == config_diff_ids(dst, "m/app", "v1")


def test_the_replicate_functions_publish_what_compression_saved(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from freightliner.observability import count_compression  # noqa: PLC0415
    from tests.support.emf import emitted  # noqa: PLC0415

    capsys.readouterr()
    count_compression("dst.test", 1000, 800, 1.5, False)
    saved = emitted(capsys.readouterr().out)
    assert {m.name: m.value for m in saved} == {
        "CompressSeconds": 1.5,
        "CompressBytesBefore": 1000.0,
        "CompressBytesAfter": 800.0,
        "CompressRatio": 80.0,
    }
    assert all(m.has(destination="dst.test") for m in saved)
    count_compression("dst.test", 1000, 800, 1.5, True)  # the originals landed: nothing saved
    assert {m.name for m in emitted(capsys.readouterr().out)} == {
        "CompressSeconds",
        "CompressFallbacks",
    }
    count_compression("dst.test", 0, 0, 0.0, False)  # no eligible layer: nothing to say
    assert emitted(capsys.readouterr().out) == []
