"""What `copy` and `sync` print while they work, through the real CLI and registries."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from freightliner.cli.main import main
from freightliner.harness.images import Pusher, RandomBlob
from freightliner.harness.registry import LocalRegistry


def test_copy_reports_the_total_in_binary_units_and_ends_at_100_percent(
    registry: LocalRegistry, dest_registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    with Pusher(registry.url) as pusher:
        pusher.image("team/app", "v1", [RandomBlob(7, 3 * 1024 * 1024), b"tail"])
    src, dst = f"{registry.host}/team/app:v1", f"{dest_registry.host}/team/app:v1"
    assert main(["copy", src, dst]) == 0
    captured = capsys.readouterr()
    last = captured.err.strip().splitlines()[-1]
    assert re.fullmatch(r"blobs 3/3 \| 3\.0 MiB of 3\.0 MiB \(100%\) at .+/s", last), last
    assert re.search(r"bytes {7}3\.0 MiB in \d+\.\d\ds", captured.out)

    assert main(["copy", src, dst]) == 0
    again = capsys.readouterr()
    assert again.out.startswith("up-to-date:") and again.err == ""  # nothing to move, no line


def test_copy_dry_run_claims_no_transfer(
    registry: LocalRegistry, dest_registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    with Pusher(registry.url) as pusher:
        pusher.image("team/app", "v1", [RandomBlob(8, 2 * 1024 * 1024)])
    code = main(
        ["copy", "--dry-run", f"{registry.host}/team/app:v1", f"{dest_registry.host}/x/app:v1"]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "planned:" in captured.out
    assert "2.0 MiB to copy (dry run: none moved)" in captured.out
    assert " in 0." not in captured.out


def test_sync_progress_counts_the_bytes_it_moved(
    tmp_path: Path,
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Pusher(registry.url) as pusher:
        pusher.image("team/app", "v1", [RandomBlob(9, 1024 * 1024)])
    sync_file = tmp_path / "sync.yaml"
    sync_file.write_text(
        yaml.safe_dump(
            {
                "syncs": [
                    {
                        "name": "t",
                        "source": {"registry": registry.host, "prefix": "team"},
                        "destination": {"registry": dest_registry.host, "prefix": "mirror"},
                    }
                ]
            }
        )
    )
    state = str(tmp_path / "state.db")
    assert main(["sync", str(sync_file), "--state", state]) == 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("repositories 1/1 | images 1 copied, 0 present, 0 failed | 1.0 MiB")
    assert main(["sync", str(sync_file), "--state", state, "--dry-run"]) == 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == "repositories 1/1 | images 0 to copy, 1 present, 0 failed"


def test_on_a_terminal_copy_draws_a_rich_bar_with_binary_sizes(
    registry: LocalRegistry, dest_registry: LocalRegistry
) -> None:
    with Pusher(registry.url) as pusher:
        pusher.image("team/app", "v1", [RandomBlob(10, 4 * 1024 * 1024)])
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("freightliner")),
                "copy",
                f"{registry.host}/team/app:v1",
                f"{dest_registry.host}/team/app:v1",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
            env={**os.environ, "COLUMNS": "160", "TERM": "xterm"},
        )
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
        out, _ = process.communicate(timeout=60)
    finally:
        os.close(leader)
    assert process.returncode == 0
    assert b"copied:" in out
    screen = drawn.decode(errors="replace")
    assert "MiB" in screen and "%" in screen, screen[-500:]
    assert " MB" not in screen
