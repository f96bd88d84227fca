"""Kill-and-resume of a local tree sync, and how fast a big checkpoint resumes.

1. Bytes: one clean `freightliner sync` of REPOS repositories (one LAYER_MB layer each) into an
   empty registry, then the same tree into another empty registry with the sync SIGKILLed
   halfway and finished by `freightliner jobs resume`. Upload bytes are counted on the wire by
   a proxy in front of each destination; the target is killed+resumed <= 1.05x clean.
2. Start: a checkpoint holding ITEMS finished images; `jobs resume` is timed from launch to its
   first request to the source registry (target < 5 s).

    .venv/bin/python bench/tree_kill_resume.py [--repos 40 --layer-mb 2 --items 10000]
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' counting proxy

from tests.support.faulty_proxy import start_proxy  # noqa: E402

from freightliner.adapters.local.sqlite_checkpoints import SqliteCheckpoints  # noqa: E402
from freightliner.domain.sync import SyncSpec  # noqa: E402
from freightliner.domain.work import ItemStatus  # noqa: E402
from freightliner.harness.images import Pusher, RandomBlob  # noqa: E402
from freightliner.harness.registry import LocalRegistry  # noqa: E402

FREIGHTLINER = str(Path(sys.executable).with_name("freightliner"))


def sync_file(path: Path, source: str, dest: str) -> Path:
    spec = {
        "name": "bench",
        "source": {"registry": source, "prefix": "tree"},
        "destination": {"registry": dest, "prefix": "mirror"},
        "concurrency": 4,
    }
    path.write_text(json.dumps({"syncs": [spec]}))
    return path


def done_count(state: Path) -> int:
    try:
        with sqlite3.connect(state) as db:
            return int(db.execute("SELECT COUNT(*) FROM items WHERE status='DONE'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def run(*args: str) -> None:
    subprocess.run([FREIGHTLINER, *args], check=True, capture_output=True)


def bytes_clean(source: LocalRegistry, tmp: Path) -> int:
    with LocalRegistry() as dest:
        proxy, host, stop = start_proxy(dest.url)
        try:
            run(
                "sync",
                str(sync_file(tmp / "clean.yaml", source.host, host)),
                "--state",
                str(tmp / "clean.db"),
            )
        finally:
            stop()
        return proxy.body_bytes


def bytes_killed_and_resumed(source: LocalRegistry, tmp: Path, repos: int) -> tuple[int, int]:
    state = tmp / "killed.db"
    with LocalRegistry() as dest:
        proxy, host, stop = start_proxy(dest.url)
        try:
            spec = sync_file(tmp / "killed.yaml", source.host, host)
            process = subprocess.Popen(
                [FREIGHTLINER, "sync", str(spec), "--state", str(state)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while done_count(state) < repos // 2 and process.poll() is None:
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            process.wait()
            at_kill = done_count(state)
            [job] = json.loads(
                subprocess.run(
                    [FREIGHTLINER, "jobs", "list", "--state", str(state), "--json"],
                    check=True,
                    capture_output=True,
                ).stdout
            )
            run("jobs", "resume", job["job_id"], "--state", str(state))
            assert done_count(state) == repos, "the resumed sync did not finish the tree"
        finally:
            stop()
        return proxy.body_bytes, at_kill


def resume_start_seconds(
    source: LocalRegistry, dest: LocalRegistry, tmp: Path, items: int
) -> float:
    """Launch-to-first-request of `jobs resume` on a checkpoint of `items` finished images."""
    proxy, host, stop = start_proxy(source.url)
    try:
        spec_path = sync_file(tmp / "big.yaml", host, dest.host)
        spec = SyncSpec.model_validate(json.loads(spec_path.read_text())["syncs"][0])
        store = SqliteCheckpoints(tmp / "big.db")
        job_id = store.create_job(spec.name, spec.model_dump_json())
        for n in range(items):
            store.record(
                job_id,
                f"item-{n:06d}",
                repository=f"tree/r{n}",
                source=f"{host}/tree/r{n}:v1",
                destination=f"{dest.host}/mirror/r{n}:v1",
                status=ItemStatus.DONE,
                bytes_copied=1,
            )
        store.close()
        launched = time.monotonic()
        subprocess.run(
            [FREIGHTLINER, "jobs", "resume", job_id, "--state", str(tmp / "big.db")],
            check=True,
            capture_output=True,
            timeout=120,
        )
        if proxy.first_request_at is None:
            raise SystemExit("jobs resume never reached the source registry")
        return proxy.first_request_at - launched
    finally:
        stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=40)
    parser.add_argument("--layer-mb", type=float, default=2.0)
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    print(f"$ {shlex.join([Path(sys.executable).name, *sys.argv])}", flush=True)
    with LocalRegistry() as source, tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        with Pusher(source.url) as pusher:
            for n in range(args.repos):
                pusher.image(f"tree/app{n:03d}", "v1", [RandomBlob(n, int(args.layer_mb * 2**20))])
        clean = bytes_clean(source, tmp)
        total, at_kill = bytes_killed_and_resumed(source, tmp, args.repos)
        ratio = total / clean
        print(
            f"clean sync uploaded {clean / 2**20:.1f} MiB; killed after {at_kill}/{args.repos} "
            f"images and resumed: {total / 2**20:.1f} MiB in all = {ratio:.3f}x (target <= 1.05)"
        )
        with LocalRegistry() as dest:
            start = resume_start_seconds(source, dest, tmp, args.items)
        print(
            f"jobs resume with {args.items} finished items in the checkpoint: first registry "
            f"request {start:.2f} s after launch (target < 5)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
