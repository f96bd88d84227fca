"""Memory of `copy --compress zstd`: a multi-GB image transcoded between two real registries
must stay within a flat RSS (the target: a 10 GB image within 200 MB).

Layers are generated on disk: 4 MB blocks cut from a 64 MB tarball of /usr at offsets 9 MB
apart (no zstd window, up to level 19's 8 MB, sees a block repeat), gzipped at level 1.
They are pushed to a `docker-registry` on loopback with a config listing their diff_ids,
then copied by the `freightliner` CLI as a child process into a fresh registry, with and
without `--compress`. Peak RSS and CPU time are the child's, sampled every 20 ms.

    .venv/bin/python bench/compression_memory.py [--gb 2] [--layers 2] [--level 9]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import psutil

from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.domain import mediatypes as mt
from freightliner.domain.digest import Digest
from freightliner.harness.registry import LocalRegistry

FREIGHTLINER = str(Path(sys.executable).with_name("freightliner"))
MB = 1024 * 1024
BLOCK = 4 * MB
BASE = 64 * MB
STRIDE = 9 * MB


def base_tarball() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for root in ("/usr/bin", "/usr/lib", "/usr/share"):
            for directory, _dirs, names in os.walk(root):
                for name in sorted(names):
                    path = Path(directory, name)
                    if path.is_file() and not path.is_symlink():
                        archive.add(str(path), recursive=False)
                    if out.tell() > BASE:
                        return out.getvalue()[:BASE]
    return out.getvalue()


def write_layer(path: Path, size: int, seed: int, base: bytes) -> tuple[Digest, Digest, int]:
    """A gzip file of `size` uncompressed bytes; its digest, diff_id and size."""
    gz_hash, plain_hash = hashlib.sha256(), hashlib.sha256()
    encoder = zlib.compressobj(1, zlib.DEFLATED, 31)
    written = 0
    with path.open("wb") as out:
        for n in range(size // BLOCK):
            at = ((n + seed * 7) * STRIDE) % (len(base) - BLOCK)  # each layer its own order
            data = base[at : at + BLOCK]
            plain_hash.update(data)
            packed = encoder.compress(data)
            gz_hash.update(packed)
            out.write(packed)
            written += len(packed)
        packed = encoder.flush()
        gz_hash.update(packed)
        out.write(packed)
        written += len(packed)
    return (
        Digest("sha256", gz_hash.hexdigest()),
        Digest("sha256", plain_hash.hexdigest()),
        written,
    )


def file_source(path: Path):  # type: ignore[no-untyped-def]
    @contextlib.contextmanager
    def opened() -> Iterator[Iterator[bytes]]:
        with path.open("rb") as handle:
            yield iter(lambda: handle.read(MB), b"")

    return opened


def seed(registry: LocalRegistry, workdir: Path, total: int, layers: int) -> int:
    clients = RegistryClients()
    try:
        client = clients.client(registry.host)
        base = base_tarball()
        descriptors, diff_ids, gz_total = [], [], 0
        for n in range(layers):
            path = workdir / f"layer{n}.gz"
            digest, diff_id, size = write_layer(path, total // layers, n, base)
            client.upload_blob("bench/big", digest, size, file_source(path))
            path.unlink()
            descriptors.append(
                {"mediaType": mt.OCI_LAYER_GZIP, "digest": str(digest), "size": size}
            )
            diff_ids.append(str(diff_id))
            gz_total += size
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
            }
        ).encode()
        config_digest = Digest.of(config)
        client.upload_blob("bench/big", config_digest, len(config), file_bytes(config))
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "config": {
                    "mediaType": mt.OCI_CONFIG,
                    "digest": str(config_digest),
                    "size": len(config),
                },
                "layers": descriptors,
            }
        ).encode()
        client.put_manifest("bench/big", "v1", manifest, mt.OCI_MANIFEST)
        return gz_total
    finally:
        clients.close()


def file_bytes(data: bytes):  # type: ignore[no-untyped-def]
    @contextlib.contextmanager
    def opened() -> Iterator[Iterator[bytes]]:
        yield iter([data])

    return opened


def run(command: list[str]) -> tuple[float, float, float, dict]:  # type: ignore[type-arg]
    """Wall seconds, CPU seconds and peak RSS (MB) sampled every 20 ms (`ru_maxrss` would
    report this parent's size at fork), and the JSON report of one copy."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watched = psutil.Process(process.pid)
    peak, cpu = 0, 0.0
    while process.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, watched.memory_info().rss)
            times = watched.cpu_times()
            cpu = times.user + times.system
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    out, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"copy failed: {err.decode()}")
    return seconds, cpu, peak / MB, json.loads(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=2.0, help="uncompressed GB of layers")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--level", type=int, default=9)
    args = parser.parse_args()
    total = int(args.gb * 1024 * MB) // (BLOCK * args.layers) * BLOCK * args.layers
    with tempfile.TemporaryDirectory() as tmp, LocalRegistry() as source:
        print(f"seeding {args.layers} gzip layers, {total / MB / 1024:.1f} GB uncompressed ...")
        gz_total = seed(source, Path(tmp), total, args.layers)
        print(f"source image: {gz_total / MB:.0f} MB gzip, {total / MB:.0f} MB uncompressed")
        for extra in ([], ["--compress", f"zstd:{args.level}"]):
            with LocalRegistry() as dest:
                command = [
                    FREIGHTLINER,
                    "copy",
                    f"{source.host}/bench/big:v1",
                    f"{dest.host}/bench/big:v1",
                    "--json",
                    *extra,
                ]
                seconds, cpu, rss, report = run(command)
            label = " ".join(extra) or "plain copy"
            line = (
                f"{label:<18} {seconds:7.1f}s ({cpu:6.1f} cpu-s)  peak RSS {rss:6.1f} MB  "
                f"{report['bytes_copied'] / MB:8.0f} MB uploaded"
            )
            if extra:
                before, after = report["compress_bytes_before"], report["compress_bytes_after"]
                line += (
                    f"  zstd {after / MB:.0f} MB of {before / MB:.0f} MB gzip "
                    f"({after / before:.2f}x), {report['layers_compressed']} layers, "
                    f"digest {report['digest'][7:19]}"
                )
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
