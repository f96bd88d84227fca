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
