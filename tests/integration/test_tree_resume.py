"""Checkpoints: a sync killed with SIGKILL resumes without copying finished images again;
altered checkpoints and other definitions are refused."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from freightliner.cli.main import main
from freightliner.harness.images import Pusher, RandomBlob
from freightliner.harness.registry import LocalRegistry
from tests.support.faulty_proxy import FaultyProxy, start_proxy


def write_sync(path: Path, source: str, dest: str, name: str = "tree") -> Path:
    path.write_text(
        json.dumps(
            {
                "syncs": [
                    {
                        "name": name,
                        "source": {"registry": source, "prefix": "src"},
                        "destination": {"registry": dest, "prefix": "dst"},
                        "concurrency": 2,
                    }
                ]
            }
        )
    )
    return path


def done_items(state: Path) -> list[str]:
    try:
        with sqlite3.connect(state) as db:
            return [r[0] for r in db.execute("SELECT destination FROM items WHERE status='DONE'")]
    except sqlite3.OperationalError:
        return []


def manifest_puts(fake: FaultyProxy, start: int = 0) -> list[str]:
    return [p for m, p, s in fake.requests[start:] if m == "PUT" and "/manifests/" in p]


def blob_uploads(fake: FaultyProxy) -> int:
    return sum(1 for m, p, _ in fake.requests if m == "PUT" and "/blobs/uploads/" in p)


def test_sigkill_then_resume_completes_without_recopying(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Pusher(registry.url) as pusher:
        for n in range(30):
            pusher.image(f"src/app{n:02d}", "v1", [RandomBlob(n, 1_500_000)])
    fake, dest_host, stop = start_proxy(dest_registry.url)
    state = tmp_path / "checkpoints.db"
    sync = write_sync(tmp_path / "sync.yaml", registry.host, dest_host)
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "freightliner.cli.main",
                "sync",
                str(sync),
                "--state",
                str(state),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while len(done_items(state)) < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        before_kill = set(done_items(state))
        assert 8 <= len(before_kill) < 30, "the sync should be killed halfway"
        first_run = len(fake.requests)

        main(["jobs", "list", "--state", str(state), "--json"])
        [job] = json.loads(capsys.readouterr().out)
        assert job["status"] == "RUNNING"
        assert main(["jobs", "resume", job["job_id"], "--state", str(state)]) == 0
        capsys.readouterr()
    finally:
        stop()
    assert len(done_items(state)) == 30
    resumed_puts = manifest_puts(fake, first_run)
    for destination in before_kill:
        repository = destination.split("/", 1)[1].rsplit(":", 1)[0]
        assert f"/v2/{repository}/manifests/v1" not in resumed_puts
    # A clean sync uploads 31 blobs (30 layers, one config shared by all and mounted after
    # its first upload); at most the 2 images in flight at the kill are uploaded twice.
    assert 31 <= blob_uploads(fake) <= 31 + 2 * 2
    main(["jobs", "status", job["job_id"], "--state", str(state)])
    status = capsys.readouterr().out
    assert "COMPLETE" in status and "30 finished" in status


def test_altered_or_foreign_checkpoints_are_refused(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Pusher(registry.url) as pusher:
        pusher.image("src/app", "v1", [b"x"])
    state = tmp_path / "checkpoints.db"
    sync = write_sync(tmp_path / "sync.yaml", registry.host, dest_registry.host)
    assert main(["sync", str(sync), "--state", str(state), "--json"]) == 0
    job_id = json.loads(capsys.readouterr().out)[0]["job_id"]
    other = write_sync(tmp_path / "other.yaml", registry.host, dest_registry.host, "other")
    assert main(["sync", str(other), "--resume", job_id, "--state", str(state)]) == 2
    assert "made by another sync definition" in capsys.readouterr().err
    # Issue 11, point 7: an edited definition is refused even with its hash recomputed.
    with sqlite3.connect(state) as db:
        db.execute("UPDATE jobs SET definition = replace(definition, '\"dst\"', '\"evil\"')")
        [(definition,)] = db.execute("SELECT definition FROM jobs")
        db.execute(
            "UPDATE jobs SET checksum = ?", (hashlib.sha256(definition.encode()).hexdigest(),)
        )
    assert main(["jobs", "resume", job_id, "--state", str(state)]) == 2
    error = capsys.readouterr().err
    assert f"checkpoint {state}: job {job_id} fails its integrity check" in error
    assert "Run the sync again without resuming" in error and error.count("\n") == 1
    catalog = httpx.get(f"{dest_registry.url}/v2/_catalog").json()["repositories"]
    assert catalog and not [name for name in catalog if name.startswith("evil")]


def test_the_checkpoint_key_is_private_and_refused_when_it_is_not(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = tmp_path / "shared.key"
    monkeypatch.setenv("FREIGHTLINER_CHECKPOINT_KEY", str(key))
    sync = write_sync(tmp_path / "sync.yaml", registry.host, dest_registry.host)
    state = tmp_path / "checkpoints.db"
    assert main(["sync", str(sync), "--state", str(state), "--dry-run"]) == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(bytes.fromhex(key.read_text())) == 32
    key.chmod(0o640)
    assert main(["jobs", "list", "--state", str(state)]) == 2


@pytest.mark.parametrize(
    "content",
    [b"garbage, not a database", b"SQLite format 3\x00" + b"\xff" * 4000, None],
)
def test_a_corrupt_checkpoint_file_is_refused_by_name(
    content: bytes | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "checkpoints.db"
    if content is None:  # a SQLite database, but not a checkpoint
        with sqlite3.connect(state) as db:
            db.execute("CREATE TABLE jobs (id INTEGER)")
    else:
        state.write_bytes(content)
    for command in (["jobs", "list"], ["jobs", "resume", "sync-x"], ["jobs", "status", "sync-x"]):
        assert main([*command, "--state", str(state)]) == 2
        error = capsys.readouterr().err
        assert f"checkpoint file {state} is corrupt" in error and "move it away" in error
