"""Reliability of a tree sync through an unreliable network: IMAGES images, each its own
repository, copied by `freightliner sync` from one loopback registry to another, both behind
the harness's fault-injecting proxy (freightliner.harness.fault_proxy):

- source and destination: ERROR_RATE of requests answered 503, RESET_RATE of blob transfers
  cut halfway (downloads at the source, uploads at the destination);
- destination: a request quota of QUOTA req/s answering 429 with Retry-After beyond it (the
  registries config paces the host at that same rate), a 429 storm of 2 s every 20 s, and an
  outage of OUTAGE seconds once a third of the images are done.

When the sync ends with failed images, `jobs resume --retry-failed` runs them once more (what
an operator does today). Then every image is checked at the destination directly (manifest
digest = source's, every blob present with its digest) and the bench prints: images corrupt,
lost, in the DLQ (none: the CLI sync has no queue), duplicate blob uploads %, 429s received
vs the quota, the peak request rate the destination saw, and the time from the outage's end
to the next image copied.

    .venv/bin/python bench/reliability.py [--images 300 --outage 60 --quota 100] [--unpaced]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from freightliner.harness.fault_proxy import FaultPlan, FaultProxy
from freightliner.harness.images import Pushed, Pusher, RandomBlob
from freightliner.harness.registry import LocalRegistry

FREIGHTLINER = str(Path(sys.executable).with_name("freightliner"))
MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json"


def done_count(state: Path) -> int:
    try:
        with sqlite3.connect(state) as db:
            query = "SELECT COUNT(*) FROM items WHERE status='DONE'"
            return int(db.execute(query).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def check(dest: LocalRegistry, name: str, pushed: Pushed) -> str:
    """ "ok", "lost" or "corrupt" for one image, read at the destination directly."""
    with httpx.Client(base_url=dest.url, timeout=60.0) as client:
        reply = client.get(f"/v2/{name}/manifests/v1", headers={"Accept": MANIFEST_ACCEPT})
        if reply.status_code == 404:
            return "lost"
        if (
            reply.status_code != 200
            or hashlib.sha256(reply.content).hexdigest() != (pushed.digest.split(":", 1)[1])
        ):
            return "corrupt"
        for digest in pushed.blobs:
            blob = client.get(f"/v2/{name}/blobs/{digest}", follow_redirects=True)
            if blob.status_code == 404:
                return "lost"
            if "sha256:" + hashlib.sha256(blob.content).hexdigest() != digest:
                return "corrupt"
    return "ok"


def peak_rate(times: list[float]) -> int:
    """The most requests within any one second."""
    times = sorted(times)
    peak, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        peak = max(peak, last - first + 1)
    return peak


def run_sync(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """The command's exit code and its last progress line."""
    done = subprocess.run([FREIGHTLINER, *args], env=env, capture_output=True, check=False)
    lines = (done.stderr + done.stdout).decode(errors="replace").strip().splitlines()
    summary = next((line for line in reversed(lines) if line.startswith("repositories")), "")
    return done.returncode, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--layer-kb", type=int, default=16)
    parser.add_argument(
        "--outage", type=float, default=60.0, help="seconds the destination is down"
    )
    parser.add_argument("--quota", type=float, default=100.0, help="destination req/s quota")
    parser.add_argument("--error-rate", type=float, default=0.05)
    parser.add_argument("--reset-rate", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--unpaced", action="store_true", help="no pacing for the destination (to compare)"
    )
    args = parser.parse_args()
    print(f"$ {shlex.join([Path(sys.executable).name, *sys.argv])}", flush=True)

    with (
        LocalRegistry() as source,
        LocalRegistry() as dest,
        tempfile.TemporaryDirectory() as name,
    ):
        tmp = Path(name)
        images: dict[str, Pushed] = {}
        with Pusher(source.url) as pusher:
            for n in range(args.images):
                repo = f"tree/app{n:04d}"
                images[repo] = pusher.image(repo, "v1", [RandomBlob(n, args.layer_kb * 1024)])
        noisy = FaultPlan(error_rate=args.error_rate, reset_rate=args.reset_rate, seed=1)
        hostile = FaultPlan(
            error_rate=args.error_rate,
            reset_rate=args.reset_rate,
            quota_rps=args.quota,
            storm_every=20.0,
            storm_seconds=2.0,
            storm_retry_after=1,
            seed=2,
        )
        with FaultProxy(source.url, noisy) as src_proxy, FaultProxy(dest.url, hostile) as proxy:
            registries = tmp / "registries.yaml"
            pacing = "{}" if args.unpaced else f"{{all: {{rate: {args.quota}}}}}"
            registries.write_text(f"registries:\n  - host: {proxy.host}\n    pacing: {pacing}\n")
            spec = tmp / "sync.yaml"
            sync = {
                "name": "reliability",
                "source": {"registry": src_proxy.host, "prefix": "tree"},
                "destination": {"registry": proxy.host, "prefix": "mirror"},
                "concurrency": args.concurrency,
            }
            spec.write_text(json.dumps({"syncs": [sync]}))
            state = tmp / "state.db"
            env = {**os.environ, "FREIGHTLINER_REGISTRIES": str(registries)}
            outage: dict[str, float] = {}

            def take_down() -> None:
                while done_count(state) < args.images // 3:
                    if "finished" in outage:
                        return
                    time.sleep(0.05)
                outage["start"] = time.monotonic()
                proxy.outage(True)
                time.sleep(args.outage)
                proxy.outage(False)
                outage["end"] = time.monotonic()

            saboteur = threading.Thread(target=take_down, daemon=True)
            saboteur.start()
            started = time.monotonic()
            code, first_summary = run_sync(["sync", str(spec), "--state", str(state)], env)
            sync_ended = time.monotonic()
            first_pass = sync_ended - started
            outage["finished"] = time.monotonic()
            saboteur.join()
            resumed = ""
            if code:
                with sqlite3.connect(state) as db:
                    [(job,)] = db.execute("SELECT job_id FROM jobs").fetchall()
                command = ["jobs", "resume", str(job), "--retry-failed", "--state", str(state)]
                resumed = run_sync(command, env)[1]
            counts = proxy.counts
            answers = list(counts.answers)

        verdicts = {"ok": 0, "lost": 0, "corrupt": 0}
        for repo, pushed in images.items():
            verdicts[check(dest, repo.replace("tree/", "mirror/", 1), pushed)] += 1

    copied_after = [
        a.at
        for a in answers
        if "end" in outage
        and a.at >= outage["end"]
        and not a.fault
        and a.method == "PUT"
        and "/manifests/" in a.path
        and a.status in (200, 201)
    ]
    unique = len(counts.uploads_completed)
    duplicates = counts.duplicate_uploads  # the same blob committed twice to one repository
    print(
        f"{args.images} images of {args.layer_kb} KiB, sync concurrency {args.concurrency}; "
        f"faults: {args.error_rate:.0%} 503s, {args.reset_rate:.0%} blob resets at source and "
        f"destination, destination quota {args.quota:g} req/s, 2 s 429 storms every 20 s, "
        f"{args.outage:g} s outage"
    )
    print(
        f"sync: {first_pass:.0f} s, exit {code}: {first_summary}"
        + (f"\nthen `jobs resume --retry-failed` once: {resumed}" if resumed else "")
    )
    print(f"images corrupt: {verdicts['corrupt']}")
    print(f"images lost: {verdicts['lost']}")
    print("images in the DLQ: n/a (the CLI tree sync has no queue; failures are counted above)")
    print(
        f"duplicate blob uploads: {duplicates} of {unique} blob uploads = "
        f"{100 * duplicates / max(unique, 1):.2f}% (target <= 2%)"
    )
    forwarded = [a.at for a in answers if a.fault != "outage"]
    print(
        f"429s received: {counts.quota_429} from the {args.quota:g} req/s quota ("
        + ("unpaced" if args.unpaced else f"paced at {args.quota:g} req/s")
        + f"), {counts.storm_429} in storms; peak destination rate "
        f"{peak_rate(forwarded)} req/s in any 1 s"
    )
    print(
        f"injected: {counts.injected_503 + src_proxy.counts.injected_503} 503s, "
        f"{counts.resets + src_proxy.counts.resets} resets, {counts.outage} requests refused "
        f"in the outage"
    )
    if "end" not in outage:
        print("outage: never started (the sync finished first)")
    elif copied_after:
        where = "by the sync" if min(copied_after) < sync_ended else "by `jobs resume`"
        print(
            f"time to recover after the outage ended: {min(copied_after) - outage['end']:.1f} s "
            f"(to the next image copied, {where})"
        )
    else:
        print("time to recover after the outage ended: no image was copied after it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
