"""Progress for people: a bar on a terminal (rich, from the `cli` extra), a line every 10 s
otherwise. Sizes in binary units (KiB = 1024 B); the ETA counts bytes still to move.

A copy learns its total from the manifests before any blob moves (`blobs_planned`); blobs the
destination already has (present, mounted) leave the total, so percent and ETA measure only
the bytes that travel. A sync counts bytes as the shared copier moves them.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
EVERY_OFF_TERMINAL = 10.0
EVERY_ON_TERMINAL = 0.5


def human_bytes(count: float) -> str:
    """`209716345` -> `200.0 MiB`: binary units, named as such."""
    for unit in _UNITS:
        if abs(count) < 1024 or unit == _UNITS[-1]:
            return f"{int(count)} B" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns at the last unit


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _Counter:
    """Bytes to move and moved, thread-safe; the rate and ETA over the bytes moved."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.total = 0
        self.moved = 0
        self.total_known = False  # a copy knows its total once its manifests are read

    def rate(self) -> float:
        return self.moved / max(time.monotonic() - self.started, 1e-6)

    def summary(self, total: int | None, *, approximate: bool = False) -> str:
        """Bytes moved, of `total` (None: unknown; `approximate`: an estimate) with percent
        and ETA, and the rate."""
        rate = self.rate()
        text = human_bytes(self.moved)
        if total is not None:
            percent = 100.0 * self.moved / total if total else 100.0
            about = "~" if approximate else ""
            text += f" of {about}{human_bytes(total)} ({min(percent, 100.0):.0f}%)"
        text += f" at {human_bytes(rate)}/s"
        if total is not None and rate > 0 and self.moved < total:
            text += f", ETA {_duration((total - self.moved) / rate)}"
        return text


class _Ticker:
    """Calls `emit` every `every` seconds on a daemon thread until stopped."""

    def __init__(self, every: float, emit: Any) -> None:
        self.every = every
        self._emit = emit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._emit()


def _rich_bar(stream: TextIO) -> Any | None:
    """A rich progress bar with binary sizes, percent and ETA, or None without rich."""
    try:
        from rich.console import Console  # noqa: PLC0415 - the cli extra, terminals only
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            DownloadColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
    except ImportError:
        return None
    speed = TextColumn("{task.fields[speed]}", style="progress.data.speed")
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(binary_units=True),
        speed,  # rich's TransferSpeedColumn speaks decimal MB/s next to binary MiB
        TimeRemainingColumn(),
        console=Console(file=stream),
        transient=True,
    )


class ConsoleProgress:
    """The ProgressSink of `freightliner copy`: a rich bar on a terminal (a plain live line
    without rich), one line every 10 s off a terminal and a last line at the end."""

    def __init__(
        self,
        stream: TextIO | None = None,
        live: bool | None = None,
        every: float = EVERY_OFF_TERMINAL,
    ) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.counter = _Counter()
        self.blobs_total = self.blobs_done = 0
        self._bar = _rich_bar(self.stream) if self.live else None
        self._task: Any = None
        self._ticker = _Ticker(EVERY_ON_TERMINAL if self.live else every, self._print)

    def __enter__(self) -> ConsoleProgress:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task("copy", total=None, speed="")
        else:
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
            return
        self._ticker.stop()
        if self.live:
            self.stream.write("\r\033[K")
        elif self.counter.total_known:
            self._print()
        self.stream.flush()

    # -- ProgressSink -------------------------------------------------------------------

    def blobs_planned(self, count: int, size: int) -> None:
        with self.counter.lock:
            self.blobs_total += count
            self.counter.total += size
            self.counter.total_known = True
        self._update()

    def blob_started(self, digest: str, size: int) -> None:
        return None

    def bytes_moved(self, count: int) -> None:
        with self.counter.lock:
            self.counter.moved += count
        if self._bar is not None:
            self._bar.update(
                self._task, advance=count, speed=f"{human_bytes(self.counter.rate())}/s"
            )

    def blob_done(self, digest: str, size: int, how: str) -> None:
        with self.counter.lock:
            self.blobs_done += 1
            if how != "copied":  # present or mounted: it does not travel
                self.counter.total = max(self.counter.total - size, self.counter.moved)
        self._update()

    # -- rendering ----------------------------------------------------------------------

    def _update(self) -> None:
        if self._bar is not None:
            with self.counter.lock:
                total = self.counter.total if self.counter.total_known else None
                done, count = self.blobs_done, self.blobs_total
            self._bar.update(self._task, total=total, description=f"blobs {done}/{count}")

    def line(self) -> str:
        with self.counter.lock:
            total = self.counter.total if self.counter.total_known else None
            return f"blobs {self.blobs_done}/{self.blobs_total} | {self.counter.summary(total)}"

    def _print(self) -> None:
        if self.live:
            self.stream.write("\r\033[K" + self.line())
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()


class TreeConsoleProgress:
    """The TreeProgress of `freightliner sync`: repositories and images as they finish and
    bytes as they move (the shared copier reports every chunk); a live line on a terminal,
    else a line every 10 s.

    A sync streams its listing, so its byte total is an estimate: the bytes to move of every
    image planned so far, plus, for each image not yet planned, the mean of the images already
    seen (up-to-date ones count as zero); repositories not yet listed count as the mean of
    those listed. Once every repository has been found the line shows that total, marked `~`
    while it is estimated, and an ETA on bytes.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        every: float = EVERY_OFF_TERMINAL,
        *,
        dry_run: bool = False,
    ) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.dry_run = dry_run
        self.counter = _Counter()
        self.found = self.done = self.copied = self.skipped = self.failed = 0
        self.images_listed = self.images_planned = self.repositories_listed = 0
        self.listed = False
        self._ticker = _Ticker(EVERY_ON_TERMINAL if self.live else every, self._print)

    def __enter__(self) -> TreeConsoleProgress:
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ticker.stop()
        self._print(final=True)

    def repository_found(self) -> None:
        with self.counter.lock:
            self.found += 1

    def images_found(self, count: int) -> None:
        with self.counter.lock:
            self.images_listed += count
            self.repositories_listed += 1

    def listing_done(self) -> None:
        with self.counter.lock:
            self.listed = True

    def repository_done(self) -> None:
        with self.counter.lock:
            self.done += 1

    def image_done(self, outcome: str, bytes_copied: int) -> None:
        with self.counter.lock:
            setattr(self, outcome, getattr(self, outcome) + 1)

    # ProgressSink: the copier's bytes, counted as they move
    def blobs_planned(self, count: int, size: int) -> None:
        with self.counter.lock:
            self.images_planned += 1
            self.counter.total += size

    def blob_started(self, digest: str, size: int) -> None:
        return None

    def bytes_moved(self, count: int) -> None:
        with self.counter.lock:
            self.counter.moved += count

    def blob_done(self, digest: str, size: int, how: str) -> None:
        if how != "copied":  # present or mounted: it does not travel
            with self.counter.lock:
                self.counter.total = max(self.counter.total - size, self.counter.moved)

    def _total(self) -> tuple[int | None, bool]:
        """The bytes this sync moves (lock held), and whether that is an estimate; None
        while the listing runs."""
        if not self.listed:
            return None, False
        listed = max(self.repositories_listed, self.done)
        images = self.images_listed + (self.found - listed) * self.images_listed // max(listed, 1)
        seen = self.images_planned + self.skipped + self.failed
        unplanned = max(images - seen, 0)
        if unplanned and not seen:
            return None, False
        return self.counter.total + unplanned * self.counter.total // max(seen, 1), unplanned > 0

    def line(self) -> str:
        with self.counter.lock:
            if self.dry_run:
                images = (
                    f"images {self.copied} to copy, {self.skipped} present, {self.failed} failed"
                )
            else:
                total, approximate = self._total()
                images = (
                    f"images {self.copied} copied, {self.skipped} present, {self.failed} "
                    f"failed | {self.counter.summary(total, approximate=approximate)}"
                )
            return f"repositories {self.done}/{self.found} | {images}"

    def _print(self, final: bool = False) -> None:
        """Off a terminal every call prints a line, the final one included."""
        if self.live:
            self.stream.write("\r\033[K" + self.line() + ("\n" if final else ""))
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()
