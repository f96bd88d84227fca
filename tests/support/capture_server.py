"""A stranger's HTTP server on loopback that records what it is sent, Authorization first.

It stands for a host a hostile registry points a client at (an upload `Location`, a `Link`, a
redirect, a token realm): tests assert it never received a credential. Routes answer canned
replies; a route may also stream without end (an unbounded body), or serve pages that always
link to one more.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.faulty_proxy import _QuietServer


@dataclass(frozen=True)
class Captured:
    method: str
    path: str
    authorization: str | None
    user_agent: str | None = None


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    endless: bool = False  # stream chunk after chunk until the client hangs up
    paginate: bool = False  # a `Link` to one more page, always a new URL


@dataclass
class CaptureServer:
    url: str = ""
    captured: list[Captured] = field(default_factory=list)
    routes: dict[str, Route] = field(default_factory=dict)  # path prefix -> reply
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    def route(self, prefix: str, reply: Route) -> None:
        self.routes[prefix] = reply

    def authorizations(self) -> list[str]:
        return [c.authorization for c in self.captured if c.authorization]

    def _reply(self, path: str) -> Route:
        for prefix, reply in sorted(self.routes.items(), key=lambda r: -len(r[0])):
            if path.startswith(prefix):
                return reply
        return Route(status=503)


def _handler(server: CaptureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length", "0") or 0)
            if length:
                self.rfile.read(length)
            with server._lock:
                server.captured.append(
                    Captured(
                        self.command,
                        self.path,
                        self.headers.get("Authorization"),
                        self.headers.get("User-Agent"),
                    )
                )
            reply = server._reply(self.path)
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value.replace("{url}", server.url))
            if reply.paginate:
                self.send_header("Link", f'<{self.path}&more>; rel="next"')
            if reply.endless:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"x" * 65536
                while True:  # until the client hangs up (a BrokenPipeError ends the thread)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve  # noqa: N815

    return Handler


@contextmanager
def capture_server(bind: str = "127.0.0.1") -> Iterator[CaptureServer]:
    """A capture server on a free port of `bind`, stopped afterwards."""
    state = CaptureServer()
    server: ThreadingHTTPServer = _QuietServer((bind, 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://{bind}:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
