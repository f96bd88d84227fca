"""Tree sync: `freightliner sync` against a `skopeo sync` loop over the same repositories.

Both copy REPOS repositories x TAGS small tags into a fresh, empty registry (skopeo's blob-info
cache is removed first), then resync the same tree with everything present (the no-op case).
freightliner keeps its metadata cache between the two runs (a new one per destination), as
skopeo keeps its blob-info cache: the no-op asks the source for digests and the destination
nothing it verified within the TTL.
skopeo has no tree mode across a catalog, so it runs `skopeo sync --src docker` once per
repository, which is how such trees are mirrored with it today.

Each phase also prints the CPU seconds spent by the tool's processes and by the source and
destination registries: on a small machine the registries' share bounds what any client can
reach (the sum over the cores is the least wall time).

    .venv/bin/python bench/tree_sync_vs_skopeo.py [--repos 300 --tags 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from freightliner.harness.images import Pusher, RandomBlob
from freightliner.harness.registry import LocalRegistry

ROOT = Path(__file__).resolve().parent.parent
FREIGHTLINER = str(Path(sys.executable).with_name("freightliner"))
SKOPEO_CACHES = (
    Path.home() / ".local/share/containers/cache/blob-info-cache-v1.boltdb",
    Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb"),
)


def skopeo_tree(source: LocalRegistry, dest: LocalRegistry, repos: list[str]) -> float:
    started = time.perf_counter()
    for repo in repos:
        subprocess.run(
            [
                "skopeo",
                "sync",
                "--src",
                "docker",
                "--dest",
                "docker",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "--preserve-digests",
                f"{source.host}/{repo}",
                f"{dest.host}/mirror/{repo.rsplit('/', 1)[0]}",
            ],
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - started


def freightliner_tree(source: LocalRegistry, dest: LocalRegistry, state: Path) -> float:
    spec = {
        "syncs": [
            {
                "name": "bench",
                "source": {"registry": source.host, "prefix": "tree"},
                "destination": {"registry": dest.host, "prefix": "mirror/tree"},
                "concurrency": 16,
            }
        ]
    }
    path = state.with_suffix(".yaml")
    path.write_text(json.dumps(spec))
    # Its own metadata cache per destination: the registry is new (its port may be reused)
    env = {**os.environ, "FREIGHTLINER_METADATA_CACHE": str(state.with_suffix(".cache.db"))}
    started = time.perf_counter()
    subprocess.run(
        [FREIGHTLINER, "sync", str(path), "--state", str(state), "--json"],
        check=True,
        capture_output=True,
        env=env,
    )
    return time.perf_counter() - started


def request_floor(source: LocalRegistry, dest: LocalRegistry, repos: list[str], tags: int) -> float:
    """The least a no-op resync can cost here: one tags list per repository and two HEADs per
    image (source and destination digests), sent bare with httpx from 16 threads."""
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    urls = [("GET", f"{source.url}/v2/{repo}/tags/list") for repo in repos]
    for repo in repos:
        for t in range(tags):
            urls.append(("HEAD", f"{source.url}/v2/{repo}/manifests/v1.{t}.0"))
            urls.append(("HEAD", f"{dest.url}/v2/mirror/{repo}/manifests/v1.{t}.0"))
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    with httpx.Client(limits=limits) as client, ThreadPoolExecutor(16) as pool:
        started = time.perf_counter()
        list(pool.map(lambda u: client.request(u[0], u[1], headers=accept).status_code, urls))
        return time.perf_counter() - started


def _children_cpu() -> float:
    """CPU seconds of the tool's finished child processes (the registries run on)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def count_tags(dest: LocalRegistry, repos: list[str]) -> int:
    return sum(
        len(httpx.get(f"{dest.url}/v2/mirror/{repo}/tags/list").json().get("tags") or [])
        for repo in repos
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=300)
    parser.add_argument("--tags", type=int, default=3)
    args = parser.parse_args()
    print(f"$ {shlex.join([Path(sys.executable).name, *sys.argv])}", flush=True)
    repos = [f"tree/team{n % 10}/svc{n}" for n in range(args.repos)]
    results: dict[str, float] = {}
    cpu: dict[str, tuple[float, float, float]] = {}  # tool's own, source's, destination's
    with LocalRegistry() as source, tempfile.TemporaryDirectory() as tmp:
        print(f"seeding {args.repos} repositories x {args.tags} tags ...", flush=True)
        with Pusher(source.url) as pusher:
            for n, repo in enumerate(repos):
                for t in range(args.tags):
                    pusher.image(repo, f"v1.{t}.0", [RandomBlob(n * 100 + t, 4096)])
        for tool in ("skopeo", "freightliner"):
            for cache in SKOPEO_CACHES:
                cache.unlink(missing_ok=True)
            with LocalRegistry() as dest:
                state = Path(tmp) / f"{tool}.db"
                for phase in ("full", "noop"):
                    before = (_children_cpu(), source.cpu_seconds(), dest.cpu_seconds())
                    if tool == "skopeo":
                        results[f"{tool}_{phase}"] = skopeo_tree(source, dest, repos)
                    else:
                        results[f"{tool}_{phase}"] = freightliner_tree(source, dest, state)
                    after = (_children_cpu(), source.cpu_seconds(), dest.cpu_seconds())
                    cpu[f"{tool}_{phase}"] = (
                        after[0] - before[0],
                        after[1] - before[1],
                        after[2] - before[2],
                    )
                    if phase == "full" and count_tags(dest, repos) != args.repos * args.tags:
                        raise SystemExit(f"{tool} did not copy every tag")
                if tool == "freightliner":
                    results["request_floor"] = request_floor(source, dest, repos, args.tags)
                print(
                    f"  {tool:<13} full {results[f'{tool}_full']:7.2f} s   "
                    f"no-op resync {results[f'{tool}_noop']:7.2f} s",
                    flush=True,
                )
                for phase in ("full", "noop"):
                    own, src, dst = cpu[f"{tool}_{phase}"]
                    print(
                        f"    {phase:<5} CPU s: {tool} {own:5.2f}, source registry {src:5.2f}, "
                        f"destination registry {dst:5.2f} (on {os.cpu_count()} cores)",
                        flush=True,
                    )
    full = results["skopeo_full"] / results["freightliner_full"]
    noop = results["skopeo_noop"] / results["freightliner_noop"]
    print(f"\nfull sync: freightliner {full:.1f}x faster than the skopeo sync loop (target >= 3)")
    print(f"no-op resync: freightliner {noop:.1f}x faster (target >= 5)")
    print(
        f"the no-op's request floor here (bare httpx, same requests, 16 threads): "
        f"{results['request_floor']:.2f} s; freightliner's no-op took "
        f"{results['freightliner_noop']:.2f} s, CLI start included"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "tree_sync_vs_skopeo.json").write_text(
        json.dumps(
            {
                "args": vars(args),
                **results,
                "cpu_seconds": cpu,
                "full_ratio": full,
                "noop_ratio": noop,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
