"""Progress lines: binary units, totals, percent and ETA over the bytes that travel."""

from __future__ import annotations

import io
import time

import pytest

from freightliner.cli.progress import ConsoleProgress, TreeConsoleProgress, human_bytes

MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (209_716_345, "200.0 MiB"),
        (3 * 1024**3, "3.0 GiB"),
        (5 * 1024**4, "5.0 TiB"),
    ],
)
def test_sizes_are_printed_in_binary_units(count: int, text: str) -> None:
    assert human_bytes(count) == text


def test_a_copy_line_has_its_total_percent_and_eta_over_bytes_that_travel() -> None:
    stream = io.StringIO()
    with ConsoleProgress(stream, live=False, every=0.05) as progress:
        progress.blobs_planned(3, 5 * MiB)
        progress.blob_done("sha256:a", MiB, "skipped")  # present: leaves the total
        progress.blob_done("sha256:b", 2 * MiB, "mounted")
        progress.blob_started("sha256:c", 2 * MiB)
        progress.bytes_moved(MiB)
        assert progress.line().startswith("blobs 2/3 | 1.0 MiB of 2.0 MiB (50%) at ")
        assert "ETA 0:" in progress.line()
        time.sleep(0.2)
        progress.bytes_moved(MiB)
        progress.blob_done("sha256:c", 2 * MiB, "copied")
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 2  # periodic lines off a terminal, then the last one
    assert lines[-1].startswith("blobs 3/3 | 2.0 MiB of 2.0 MiB (100%) at ")
    assert "ETA" not in lines[-1]


def test_off_a_terminal_a_copy_prints_a_line_per_interval_not_per_blob() -> None:
    stream = io.StringIO()
    with ConsoleProgress(stream, live=False, every=60) as progress:
        progress.blobs_planned(100, 100 * MiB)
        for n in range(100):
            progress.blob_done(f"sha256:{n}", MiB, "skipped")
    assert stream.getvalue().count("\n") == 1  # only the final line


def test_a_sync_counts_bytes_as_they_move() -> None:
    stream = io.StringIO()
    with TreeConsoleProgress(stream, every=0.05) as progress:
        progress.repository_found()
        progress.images_found(1)
        progress.blobs_planned(2, 3 * MiB)
        progress.bytes_moved(3 * MiB)  # mid-image: no image finished yet
        assert "images 0 copied" in progress.line() and "3.0 MiB at " in progress.line()
        assert "ETA" not in progress.line()  # the listing may still find more
        time.sleep(0.2)
        progress.image_done("copied", 3 * MiB)  # not counted twice
        progress.listing_done()
        progress.repository_done()
    last = stream.getvalue().splitlines()[-1]
    assert last.startswith(
        "repositories 1/1 | images 1 copied, 0 present, 0 failed | 3.0 MiB of 3.0 MiB (100%) "
    )


def test_a_sync_estimates_its_byte_total_and_eta_once_listed() -> None:
    progress = TreeConsoleProgress(io.StringIO(), every=60)
    for _ in range(2):
        progress.repository_found()
    progress.images_found(4)  # the second repository is not listed yet: counts as 4 more
    progress.listing_done()
    progress.blobs_planned(3, 10 * MiB)  # the first image: 10 MiB, 4 MiB of it present
    progress.blob_done("sha256:a", 4 * MiB, "skipped")
    progress.image_done("skipped", 0)  # the second: already there
    progress.bytes_moved(2 * MiB)
    progress.bytes_moved(-1 * MiB)  # a retried chunk is counted once
    # seen 2 images, 6 MiB to move among them; 6 more images at 3 MiB each: ~24 MiB
    line = progress.line()
    assert "1.0 MiB of ~24.0 MiB (4%)" in line and "ETA " in line
    progress.images_found(2)  # the second repository held 2: 4 more images, 3 MiB each
    assert "of ~18.0 MiB" in progress.line()


def test_a_dry_run_sync_line_claims_no_bytes() -> None:
    stream = io.StringIO()
    with TreeConsoleProgress(stream, every=60, dry_run=True) as progress:
        progress.repository_found()
        progress.image_done("copied", 10 * MiB)
        progress.repository_done()
    assert stream.getvalue() == "repositories 1/1 | images 1 to copy, 0 present, 0 failed\n"
