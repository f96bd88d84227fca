"""Reliability of a tree sync through an unreliable network: IMAGES images, each its own
repository, copied from one loopback registry to another, both behind the harness's
fault-injecting proxy (freightliner.harness.fault_proxy):

- source and destination: ERROR_RATE of requests answered 503, RESET_RATE of blob transfers
  cut halfway (downloads at the source, uploads at the destination);
- destination: a request quota of QUOTA req/s answering 429 with Retry-After beyond it (the
  registries config paces the host at that same rate), a 429 storm of 2 s every 20 s, and an
  outage once a third of the images are done.

Pipeline mode (the default) runs the local serverless pipeline as tests/e2e/test_outages.py
does: moto server for SQS and DynamoDB, a tree job started as the start_tree function starts
it, the replicate function polling the work queue (partial batch responses, the template's
redrive to the DLQ), the outage OUTAGE_HOURS long on a clock compressed by
FREIGHTLINER_TIME_SCALE (default 2 h in 30 s), the shared circuit breaker and delayed
re-sends riding it out. The job must end on its own; the DLQ is then received from moto.

CLI mode (`--cli`) runs `freightliner sync` with an outage of OUTAGE real seconds, then
`jobs resume --retry-failed` once if images failed (what an operator does); it has no queue.

Either way every image is then checked at the destination directly (manifest digest =
source's, every blob present with its digest) and the bench prints: images corrupt, lost, in
the DLQ, duplicate blob uploads %, 429s received vs the quota, the peak request rate the
destination saw, the time from the outage's end to the next image copied (pipeline: and to
the job's end), and the total time.

    .venv/bin/python bench/reliability.py [--images 300 --outage-hours 2 --time-scale 0.00417]
    .venv/bin/python bench/reliability.py --cli [--images 300 --outage 60 --quota 100] [--unpaced]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from freightliner.environment import ENV_BREAKER_COOL_DOWN, ENV_SYNCS, ENV_TIME_SCALE
from freightliner.harness.fault_proxy import Answer, FaultCounts, FaultPlan, FaultProxy
from freightliner.harness.functions import forget_roots, load_handler
from freightliner.harness.images import Pushed, Pusher, RandomBlob
from freightliner.harness.lambda_runtime import poll_once
from freightliner.harness.local_stack import ECR_HOST, GAR_HOST, LocalStack
from freightliner.harness.registry import LocalRegistry
from freightliner.harness.tree_job import (
    ENDED,
    finished,
    receive_dead_letters,
    start_first_sync,
    state_monitor,
)

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


def fault_plans(args: argparse.Namespace) -> tuple[FaultPlan, FaultPlan]:
    """The source's faults (503s, resets) and the destination's (those, a quota, storms)."""
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
    return noisy, hostile


def manifests_copied_after(answers: list[Answer], since: float) -> list[float]:
    """When the destination committed a manifest (an image copied) at or after `since`."""
    return [
        a.at
        for a in answers
        if a.at >= since
        and not a.fault
        and a.method == "PUT"
        and "/manifests/" in a.path
        and a.status in (200, 201)
    ]


def print_traffic(
    args: argparse.Namespace, counts: FaultCounts, source: FaultCounts, paced: str
) -> None:
    """Duplicate uploads, 429s against the quota, the peak rate, the faults injected."""
    unique = len(counts.uploads_completed)
    duplicates = counts.duplicate_uploads  # the same blob committed twice to one repository
    print(
        f"duplicate blob uploads: {duplicates} of {unique} blob uploads = "
        f"{100 * duplicates / max(unique, 1):.2f}% (target <= 2%)"
    )
    forwarded = [a.at for a in counts.answers if a.fault != "outage"]
    print(
        f"429s received: {counts.quota_429} from the {args.quota:g} req/s quota ({paced}), "
        f"{counts.storm_429} in storms; peak destination rate "
        f"{peak_rate(forwarded)} req/s in any 1 s"
    )
    print(
        f"injected: {counts.injected_503 + source.injected_503} 503s, "
        f"{counts.resets + source.resets} resets, {counts.outage} requests refused "
        f"in the outage"
    )


def run_cli(args: argparse.Namespace) -> int:
    """`freightliner sync`, then `jobs resume --retry-failed` once if images failed."""
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
        noisy, hostile = fault_plans(args)
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

    copied_after = manifests_copied_after(answers, outage["end"]) if "end" in outage else []
    print(
        f"CLI mode: {args.images} images of {args.layer_kb} KiB, sync concurrency "
        f"{args.concurrency}; faults: {args.error_rate:.0%} 503s, {args.reset_rate:.0%} blob "
        f"resets at source and destination, destination quota {args.quota:g} req/s, 2 s 429 "
        f"storms every 20 s, {args.outage:g} s outage"
    )
    print(
        f"sync: {first_pass:.0f} s, exit {code}: {first_summary}"
        + (f"\nthen `jobs resume --retry-failed` once: {resumed}" if resumed else "")
    )
    print(f"images corrupt: {verdicts['corrupt']}")
    print(f"images lost: {verdicts['lost']}")
    print("images in the DLQ: n/a (the CLI tree sync has no queue; failures are counted above)")
    paced = "unpaced" if args.unpaced else f"paced at {args.quota:g} req/s"
    print_traffic(args, counts, src_proxy.counts, paced)
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


class BreakerLines(logging.Handler):
    """The pipeline's circuit breaker log lines (opened, closed), with when they came."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "circuit breaker" in message and ("opened" in message or "closed" in message):
            self.lines.append((time.monotonic(), message))


def route(local: LocalStack, source: FaultProxy, dest: FaultProxy, pacing: str) -> None:
    """Send the pipeline's "ECR" and "GAR" traffic through the fault proxies."""
    (local.workdir / "registries.yaml").write_text(
        "registries:\n"
        f"  - host: {ECR_HOST}\n    endpoint: {source.url}\n"
        f"  - host: {GAR_HOST}\n    endpoint: {dest.url}\n    auth: {{kind: anonymous}}\n"
        f"    pacing: {pacing}\n"
    )


@contextlib.contextmanager
def output_to(log: Path) -> Iterator[None]:
    """The process's stdout and stderr (the functions' JSON log lines and metrics) into `log`,
    at the descriptor level, so handlers holding the streams follow too."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("ab") as file:
        os.dup2(file.fileno(), 1)
        os.dup2(file.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def run_pipeline(args: argparse.Namespace) -> int:
    """A tree job on the local pipeline (moto server), the replicate function polling the
    work queue, a compressed-clock outage of the destination a third of the way through."""
    scale = args.time_scale
    outage_seconds = args.outage_hours * 3600 * scale
    log = Path(tempfile.mkstemp(prefix="reliability-pipeline-", suffix=".log")[1])
    print(f"the functions' log lines go to {log}", flush=True)
    with (
        output_to(log),
        tempfile.TemporaryDirectory() as name,
        LocalStack(Path(name) / "stack", visibility_timeout=1) as local,
    ):
        assert local.resources is not None
        images: dict[str, Pushed] = {}
        for n in range(args.images):
            repo = f"prod/app{n:04d}"
            images[repo] = local.push_ecr(repo, "v1", [RandomBlob(n, args.layer_kb * 1024)])
        noisy, hostile = fault_plans(args)
        with (
            FaultProxy(local.ecr.url, noisy) as src_proxy,
            FaultProxy(local.gar.url, hostile) as proxy,
        ):
            route(
                local,
                src_proxy,
                proxy,
                "{}" if args.unpaced else f"{{all: {{rate: {args.quota}}}}}",
            )
            syncs = local.workdir / "syncs.yaml"
            sync = {
                "name": "reliability",
                "source": {"registry": ECR_HOST, "prefix": "prod"},
                "destination": {"registry": GAR_HOST, "prefix": "my-project/prod"},
            }
            syncs.write_text(json.dumps({"syncs": [sync]}))
            local.apply_env()
            os.environ[ENV_SYNCS] = str(syncs)
            os.environ[ENV_TIME_SCALE] = str(scale)
            os.environ[ENV_BREAKER_COOL_DOWN] = str(args.cool_down)
            os.environ["AWS_MAX_ATTEMPTS"] = "2"  # botocore's own retries, kept short
            forget_roots()
            breaker = BreakerLines()
            circuit = logging.getLogger("freightliner.engine.jobs.circuit")
            circuit.addHandler(breaker)
            circuit.setLevel(logging.INFO)
            replicate = load_handler("replicate").handler
            sqs = local.client("sqs")
            monitor = state_monitor(local.moto_url, local.resources.table)

            started = time.monotonic()
            job_id = start_first_sync()
            job = None
            down_at = up_at = 0.0
            began_after = 0
            deadline = started + outage_seconds + 600 + 10 * args.images
            while time.monotonic() < deadline:
                polled = poll_once(sqs, local.resources.queue_url, replicate, batch_size=args.batch)
                job = monitor.get_job(job_id)
                now = time.monotonic()
                if not down_at and finished(job) >= args.images // 3:
                    began_after, down_at = finished(job), now
                    proxy.outage(True)
                elif down_at and not up_at and now - down_at >= outage_seconds:
                    up_at = now
                    proxy.outage(False)
                if up_at and job is not None and job.status in ENDED:
                    break
                if not polled:
                    time.sleep(0.1)
            ended = time.monotonic()
            letters = receive_dead_letters(sqs, local.resources.dlq_url)
            counts = proxy.counts
            answers = list(counts.answers)

        verdicts = {"ok": 0, "lost": 0, "corrupt": 0}
        for repo, pushed in images.items():
            verdicts[check(local.gar, f"my-project/{repo}", pushed)] += 1

    print(
        f"pipeline mode (moto server, replicate polling the work queue, batches of "
        f"{args.batch}): {args.images} images of {args.layer_kb} KiB; faults: "
        f"{args.error_rate:.0%} 503s, {args.reset_rate:.0%} blob resets at source and "
        f"destination, destination quota {args.quota:g} req/s, 2 s 429 storms every 20 s, "
        f"a {args.outage_hours:g} h destination outage at FREIGHTLINER_TIME_SCALE={scale:g} "
        f"({outage_seconds:.0f} s), breaker cool-down {args.cool_down} s "
        f"({args.cool_down * scale:.2f} s)"
    )
    state = "did not end" if job is None or job.status not in ENDED else job.status
    done = "" if job is None else f": {job.done} done, {job.skipped} skipped, {job.failed} failed"
    print(f"job {state}{done}; the outage began after {began_after} images")
    print(f"images corrupt: {verdicts['corrupt']}")
    print(f"images lost: {verdicts['lost']}")
    print(f"images in the DLQ: {len(letters)} (messages received from the DLQ)")
    print_traffic(
        args,
        counts,
        src_proxy.counts,
        "unpaced" if args.unpaced else f"paced at {args.quota:g} req/s",
    )
    for at, line in breaker.lines:
        print(f"  {at - up_at:+.1f} s from the outage's end: {line}" if up_at else f"  {line}")
    if up_at and state in ENDED:
        copied = manifests_copied_after(answers, up_at)
        first = f"{min(copied) - up_at:.1f} s to the next image copied, " if copied else ""
        print(
            f"time to recover after the outage ended: {first}{ended - up_at:.1f} s to the "
            "job's end (on its own, no resume)"
        )
    else:
        print("time to recover after the outage ended: the job did not end")
    print(f"total time: {ended - started:.0f} s from the job's start to its end")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cli", action="store_true", help="`freightliner sync` instead of the pipeline"
    )
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--layer-kb", type=int, default=16)
    parser.add_argument("--quota", type=float, default=100.0, help="destination req/s quota")
    parser.add_argument("--error-rate", type=float, default=0.05)
    parser.add_argument("--reset-rate", type=float, default=0.02)
    parser.add_argument(
        "--unpaced", action="store_true", help="no pacing for the destination (to compare)"
    )
    parser.add_argument(
        "--outage-hours", type=float, default=2.0, help="pipeline: the destination outage"
    )
    parser.add_argument(
        "--time-scale", type=float, default=1 / 240, help="pipeline: FREIGHTLINER_TIME_SCALE"
    )
    parser.add_argument(
        "--cool-down", type=int, default=300, help="pipeline: breaker cool-down (s, unscaled)"
    )
    parser.add_argument("--batch", type=int, default=5, help="pipeline: SQS batch size")
    parser.add_argument(
        "--outage", type=float, default=60.0, help="CLI: seconds the destination is down"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="CLI: sync concurrency")
    args = parser.parse_args()
    print(f"$ {shlex.join([Path(sys.executable).name, *sys.argv])}", flush=True)
    return run_cli(args) if args.cli else run_pipeline(args)


if __name__ == "__main__":
    sys.exit(main())
