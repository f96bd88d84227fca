"""zstd transcoding on realistic layers: what it saves against the gzip a registry serves,
and what it costs in throughput.

Layers are filesystem tarballs built from this machine: a slice of /usr (binaries, shared
libraries, data: what a base image carries) and this virtualenv's site-packages (what a
Python application image adds). Each is gzipped at level 6 (Docker's and BuildKit's
default), then run through the same streaming transcoder `copy --compress` uses (gunzip,
verify digest and diff_id, zstd) at levels 1, 3, 9 and 19. Printed per layer and level:
the zstd size as a share of the gzip size (the bandwidth a mirror ships), the saving, and
the transcoding throughput in MB/s of gzip input per CPU-second (thread CPU time, so a busy
machine does not skew it), next to a plain verified read (sha256 + gunzip + sha256, what any
verified copy of the layer costs) for scale.

    .venv/bin/python bench/compression.py [--mb 96] [--levels 1,3,9,19] [--json]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import sys
import sysconfig
import tarfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from freightliner.domain.digest import Digest
from freightliner.engine.copying.transcode import measure, transcoded

MB = 1024 * 1024
CHUNK = 1 * MB
SEEDS_TARGET = (0.20, 0.40)  # "20-40% less bandwidth for typical images"


@dataclass
class Row:
    layer: str
    uncompressed_mb: float
    gzip_mb: float
    codec: str
    out_mb: float
    share_of_gzip: float
    saving: float
    cpu_seconds: float
    mb_per_cpu_s_gzip_in: float


def tarball(roots: list[Path], limit: int) -> bytes:
    """A tar of the regular files under `roots`, in sorted order, up to `limit` bytes."""
    out = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for root in roots:
            for path in sorted(_files(root)):
                try:
                    size = path.stat().st_size
                    if total + size > limit:
                        continue
                    archive.add(str(path), recursive=False)
                except OSError:
                    continue
                total += size
                if total >= limit * 0.98:
                    return out.getvalue()
    return out.getvalue()


def _files(root: Path) -> Iterator[Path]:
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                yield path


def chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


def plain_read(gz: bytes, plain: bytes) -> float:
    """Seconds for what any verified copy does: sha256 of the gzip, gunzip, sha256 of the
    tar (the transcoder does this plus zstd)."""
    started = time.thread_time()
    Digest.of(gz)
    decoder = zlib.decompressobj(31)
    body = decoder.decompress(gz)
    Digest.of(body)
    assert len(body) == len(plain)
    return time.thread_time() - started


def transcode(gz: bytes, plain: bytes, level: int) -> tuple[int, float]:
    started = time.thread_time()
    stream = transcoded(
        chunks(gz),
        source=Digest.of(gz),
        source_size=len(gz),
        diff_id=Digest.of(plain),
        gzipped=True,
        level=level,
    )
    result = measure(stream, lambda data: None)
    assert result is not None
    return result[1], time.thread_time() - started


def row(name: str, plain: bytes, gz: bytes, codec: str, out: int, seconds: float) -> Row:
    return Row(
        layer=name,
        uncompressed_mb=round(len(plain) / MB, 1),
        gzip_mb=round(len(gz) / MB, 1),
        codec=codec,
        out_mb=round(out / MB, 2),
        share_of_gzip=round(out / len(gz), 3),
        saving=round(1 - out / len(gz), 3),
        cpu_seconds=round(seconds, 2),
        mb_per_cpu_s_gzip_in=round(len(gz) / MB / seconds, 1),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=96, help="uncompressed MB per layer")
    parser.add_argument("--levels", default="1,3,9,19")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    levels = [int(v) for v in args.levels.split(",")]
    site = Path(sysconfig.get_paths()["purelib"])
    sources = {
        "usr (bin, lib, share)": [Path("/usr/bin"), Path("/usr/lib"), Path("/usr/share")],
        "python site-packages": [site],
    }
    rows: list[Row] = []
    for name, roots in sources.items():
        plain = tarball(roots, args.mb * MB)
        gz = gzip.compress(plain, 6, mtime=0)
        base = plain_read(gz, plain)
        rows.append(row(name, plain, gz, "gzip-6 read (no transcoding)", len(gz), base))
        for level in levels:
            out, seconds = transcode(gz, plain, level)
            rows.append(row(name, plain, gz, f"zstd:{level}", out, seconds))
            print(f"  {name}: zstd:{level} done in {seconds:.1f} cpu-s", file=sys.stderr)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    low, high = SEEDS_TARGET
    print(f"layers: {args.mb} MB tarballs, gzip level 6 at the source; CPU time of one thread")
    print(
        f"{'layer':<24}{'tar MB':>8}{'gzip MB':>9}  {'codec':<30}{'out MB':>8}"
        f"{'of gzip':>9}{'saving':>8}{'cpu s':>7}{'MB/cpu-s':>9}"
    )
    for r in rows:
        print(
            f"{r.layer:<24}{r.uncompressed_mb:>8}{r.gzip_mb:>9}  {r.codec:<30}{r.out_mb:>8}"
            f"{r.share_of_gzip:>9.3f}{r.saving:>8.1%}{r.cpu_seconds:>7}{r.mb_per_cpu_s_gzip_in:>9}"
        )
    print(f"seeds' target: {low:.0%}-{high:.0%} less bandwidth than gzip")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
