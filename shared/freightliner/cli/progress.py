"""Copy progress for people: a live line on a terminal, one plain line per blob otherwise."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(count) < 1024 or unit == "GB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} GB"


class ConsoleProgress:
    """Implements the ProgressSink port for the CLI."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self.bytes = 0
        self.blobs_active = 0
        self.blobs_done = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ConsoleProgress:
        if self.live:
            self._thread = threading.Thread(target=self._render_loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
            self.stream.write("\r\033[K")
            self.stream.flush()

    def blob_started(self, digest: str, size: int) -> None:
        with self._lock:
            self.blobs_active += 1

    def bytes_moved(self, count: int) -> None:
        with self._lock:
            self.bytes += count

    def blob_done(self, digest: str, size: int, how: str) -> None:
        with self._lock:
            if how == "copied":
                self.blobs_active -= 1
            self.blobs_done += 1
        if not self.live:
            short = digest.split(":", 1)[-1][:12]
            self.stream.write(f"blob {short} {how} ({human_bytes(size)})\n")
            self.stream.flush()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        with self._lock:
            return (
                f"blobs {self.blobs_done} done, {self.blobs_active} active | "
                f"{human_bytes(self.bytes)} at {human_bytes(self.bytes / elapsed)}/s"
            )

    def _render_loop(self) -> None:
        while not self._stop.wait(0.2):
            self.stream.write("\r\033[K" + self.line())
            self.stream.flush()


class TreeConsoleProgress:
    """Implements the TreeProgress port: a live line on a terminal, else a line every 10 s."""

    def __init__(self, stream: TextIO | None = None, every: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.every = 0.5 if self.live else every
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self.found = self.done = self.copied = self.skipped = self.failed = self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeConsoleProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._print(final=True)

    def repository_found(self) -> None:
        with self._lock:
            self.found += 1

    def repository_done(self) -> None:
        with self._lock:
            self.done += 1

    def image_done(self, outcome: str, bytes_copied: int) -> None:
        with self._lock:
            setattr(self, outcome, getattr(self, outcome) + 1)
            self.bytes += bytes_copied

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        with self._lock:
            rate = self.done / elapsed
            eta = (
                f", ETA {(self.found - self.done) / rate:.0f}s"
                if rate and self.done < self.found
                else ""
            )
            return (
                f"repositories {self.done}/{self.found} | images {self.copied} copied, "
                f"{self.skipped} present, {self.failed} failed | {human_bytes(self.bytes)} "
                f"at {human_bytes(self.bytes / elapsed)}/s{eta}"
            )

    def _print(self, final: bool = False) -> None:
        """Off a terminal every call prints a line, the final one included."""
        if self.live:
            self.stream.write("\r\033[K" + self.line() + ("\n" if final else ""))
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._print()
