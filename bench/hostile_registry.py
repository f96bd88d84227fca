"""What a hostile registry costs the CLI: peak memory and time against a manifest that never
ends and a tag listing whose `Link` loops, next to an honest registry's image.

Each case runs `freightliner` as a child process; peak RSS is its own `ru_maxrss` (`os.wait4`).
Before the limits, the endless manifest grew the CLI without bound (1.3 GB RSS for 400 MB) and
the looping listing never ended.

    .venv/bin/python bench/hostile_registry.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from freightliner.harness.images import Pusher, RandomBlob
from freightliner.harness.registry import LocalRegistry

FREIGHTLINER = str(Path(sys.executable).with_name("freightliner"))


class Hostile(BaseHTTPRequestHandler):
    """Manifests that never end; tag pages that always link back to themselves."""

    protocol_version = "HTTP/1.1"
    pages = 0

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self.send_response(200)
        if "/tags/list" in self.path:
            Hostile.pages += 1
            body = b'{"tags": ["a"]}'
            self.send_header("Link", f'<{self.path}>; rel="next"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b" " * 65536
        try:
            while True:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            return


def run(*args: str) -> tuple[int, float, float]:
    """Exit code, seconds and peak RSS (MiB) of one CLI run."""
    started = time.monotonic()
    child = subprocess.Popen(
        [FREIGHTLINER, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(child.pid, 0)
    return os.waitstatus_to_exitcode(status), time.monotonic() - started, usage.ru_maxrss / 1024


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hostile = f"127.0.0.1:{server.server_address[1]}"
    with LocalRegistry() as registry:
        with Pusher(registry.url) as pusher:
            pusher.image("team/app", "v1", [RandomBlob(1, 1024 * 1024)])
        cases = [
            ("honest manifest (inspect)", ["inspect", f"{registry.host}/team/app:v1"]),
            ("endless manifest (inspect)", ["inspect", f"{hostile}/team/app:v1"]),
            ("looping tag listing (tags)", ["tags", f"{hostile}/team/app"]),
        ]
        print(f"{'case':<30} {'exit':>4} {'seconds':>8} {'peak RSS MiB':>13}")
        for name, args in cases:
            code, seconds, rss = run(*args)
            print(f"{name:<30} {code:>4} {seconds:>8.2f} {rss:>13.1f}")
    print(f"tag pages served to the looping listing: {Hostile.pages}")
    server.shutdown()


if __name__ == "__main__":
    main()
