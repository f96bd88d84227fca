"""Registry-to-registry copy: freightliner against skopeo, measured in the same run, each as
a share of the destination's ingest ceiling.

The ceiling is the same layer bytes pushed raw into an empty destination: every layer at once,
one `curl` PUT each, from files staged in /dev/shm (no source registry, no verification, no
Python): what the destination can take in on this machine.

Every timed copy goes into a freshly started, empty destination registry: skopeo keeps a
blob-info cache and would otherwise mount blobs it saw in earlier runs and measure nothing.
The three take turns going first in each round, after one untimed warm-up copy per tool.
Peak RSS is the child process's own `ru_maxrss`, read with `os.wait4`.

    .venv/bin/python bench/copy_vs_skopeo.py [--layers 8 --layer-mb 100 --huge-mb 1024 --runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from freightliner.harness.images import OCI_INDEX, OCI_MANIFEST, Pusher, RandomBlob
from freightliner.harness.registry import LocalRegistry

ROOT = Path(__file__).resolve().parent.parent
FREIGHTLINER = str(Path(sys.executable).with_name("freightliner"))
MB = 1024 * 1024
SKOPEO_CACHES = (
    Path.home() / ".local/share/containers/cache/blob-info-cache-v1.boltdb",
    Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb"),
)


@dataclass
class Run:
    tool: str
    seconds: float
    peak_rss_mb: float
    dest_registry_cpu: float  # seconds the destination registry spent: the shared bottleneck


def manifest_digest(registry_url: str, repository: str, tag: str) -> str:
    response = httpx.head(
        f"{registry_url}/v2/{repository}/manifests/{tag}",
        headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"},
    )
    response.raise_for_status()
    return response.headers["Docker-Content-Digest"]


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        stderr = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"{shlex.join(command)} failed ({process.returncode}): {stderr}")
    return seconds, usage.ru_maxrss / 1024


def stage_layers(blobs: list[RandomBlob], directory: Path) -> list[tuple[Path, str]]:
    """The layers as files, with their digests, for the raw pushes of the ceiling."""
    staged = []
    for blob in blobs:
        path = directory / f"layer-{blob.seed}"
        with path.open("wb") as out:
            for chunk in blob.chunks():
                out.write(chunk)
        staged.append((path, blob.digest()))
    return staged


def ceiling_once(layers: list[tuple[Path, str]], repository: str) -> Run:
    """Every layer pushed raw and in parallel into a fresh registry: its ingest ceiling."""
    with LocalRegistry() as dest, httpx.Client() as client:
        started = time.perf_counter()
        pushes = []
        for path, digest in layers:
            upload = client.post(f"{dest.url}/v2/{repository}/blobs/uploads/")
            upload.raise_for_status()
            location = httpx.URL(dest.url).join(upload.headers["Location"])
            url = str(location.copy_merge_params({"digest": digest}))
            pushes.append(
                subprocess.Popen(
                    [
                        "curl",
                        "-sfS",
                        "-X",
                        "PUT",
                        "-H",
                        "Content-Type: application/octet-stream",
                        "--data-binary",
                        f"@{path}",
                        url,
                    ],
                    stdout=subprocess.DEVNULL,
                )
            )
        failed = [p.args for p in pushes if p.wait() != 0]
        seconds = time.perf_counter() - started
        if failed:
            raise SystemExit(f"raw push failed: {failed[0]}")
        return Run("ceiling", seconds, 0.0, round(dest.cpu_seconds(), 2))


def copy_once(tool: str, source: LocalRegistry, repository: str) -> Run:
    with LocalRegistry() as dest:
        src = f"{source.host}/{repository}:v1"
        dst = f"{dest.host}/{repository}:v1"
        if tool == "skopeo":
            for cache in SKOPEO_CACHES:
                cache.unlink(missing_ok=True)
            command = [
                "skopeo",
                "copy",
                "--preserve-digests",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                f"docker://{src}",
                f"docker://{dst}",
            ]
        else:
            command = [FREIGHTLINER, "copy", src, dst, "--json"]
        seconds, rss = timed(command)
        registry_cpu = dest.cpu_seconds()
        expected = manifest_digest(source.url, repository, "v1")
        actual = manifest_digest(dest.url, repository, "v1")
        if actual != expected:
            raise SystemExit(f"{tool} changed the digest: {expected} -> {actual}")
        return Run(tool, seconds, rss, round(registry_cpu, 2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--layer-mb", type=int, default=100)
    parser.add_argument("--huge-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"$ {shlex.join([Path(sys.executable).name, *sys.argv])}", flush=True)

    image_bytes = args.layers * args.layer_mb * MB
    runs: list[Run] = []
    staging = tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None)
    with staging as staged_dir, LocalRegistry() as source:
        with Pusher(source.url) as pusher:
            print(
                f"seeding {args.layers} x {args.layer_mb} MB and 1 x {args.huge_mb} MB ...",
                flush=True,
            )
            layers = [RandomBlob(100 + n, args.layer_mb * MB) for n in range(args.layers)]
            pusher.image("bench/big", "v1", list(layers))
            pusher.image("bench/huge", "v1", [RandomBlob(7, args.huge_mb * MB)])
        # One untimed copy per tool first: the seeded blobs are still being written back to
        # disk, and whichever tool ran first would otherwise pay for it.
        for tool in ("skopeo", "freightliner"):
            copy_once(tool, source, "bench/big")
        staged = stage_layers(layers, Path(staged_dir))
        tools = ["ceiling", "skopeo", "freightliner"]
        for round_number in range(args.runs):
            shift = round_number % len(tools)  # each goes first in turn
            for tool in tools[shift:] + tools[:shift]:
                run = (
                    ceiling_once(staged, "bench/big")
                    if tool == "ceiling"
                    else copy_once(tool, source, "bench/big")
                )
                runs.append(run)
                print(
                    f"  round {round_number + 1} {tool:<12} {run.seconds:7.2f} s "
                    f"{run.peak_rss_mb:7.1f} MB RSS, destination registry CPU "
                    f"{run.dest_registry_cpu:.2f} s",
                    flush=True,
                )
        huge = [copy_once(tool, source, "bench/huge") for tool in ("skopeo", "freightliner")]

    summary: dict[str, dict[str, float]] = {}
    print(
        f"\n{args.layers} layers x {args.layer_mb} MB ({image_bytes / MB:.0f} MB), "
        f"median of {args.runs} runs, each into an empty registry"
    )
    print(f"{'tool':<14}{'median s':>10}{'MB/s':>10}{'peak RSS MB':>14}{'of ceiling':>12}")
    for tool in tools:
        mine = [r for r in runs if r.tool == tool]
        median = statistics.median(r.seconds for r in mine)
        summary[tool] = {
            "median_seconds": round(median, 3),
            "mb_per_s": round(image_bytes / MB / median, 1),
            "peak_rss_mb": round(max(r.peak_rss_mb for r in mine), 1),
        }
    ceiling = summary["ceiling"]["mb_per_s"]
    for tool in tools:
        s = summary[tool]
        s["share_of_ceiling"] = round(s["mb_per_s"] / ceiling, 3)
        print(
            f"{tool:<14}{s['median_seconds']:>10.2f}{s['mb_per_s']:>10.1f}"
            f"{s['peak_rss_mb']:>14.1f}{s['share_of_ceiling']:>12.2f}"
        )
    ratio = summary["freightliner"]["mb_per_s"] / summary["skopeo"]["mb_per_s"]
    print(f"throughput ratio freightliner/skopeo: {ratio:.2f} (target: ahead, > 1)")
    print(
        f"freightliner at {summary['freightliner']['share_of_ceiling']:.2f} of the destination's"
        f" ingest ceiling, skopeo at {summary['skopeo']['share_of_ceiling']:.2f} (target >= 0.9)"
    )
    print(f"\n1 layer x {args.huge_mb} MB:")
    for run in huge:
        print(f"{run.tool:<14}{run.seconds:>10.2f} s {run.peak_rss_mb:>10.1f} MB peak RSS")
    fl_huge = next(r for r in huge if r.tool == "freightliner")
    print(f"freightliner peak RSS {fl_huge.peak_rss_mb:.1f} MB (target <= 150)")

    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "copy_vs_skopeo.json").write_text(
        json.dumps(
            {
                "args": vars(args),
                "summary": summary,
                "ratio": round(ratio, 3),
                "runs": [asdict(r) for r in runs],
                "huge": [asdict(r) for r in huge],
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
