"""An HTTP reverse proxy on loopback that injects registry failures on a schedule.

There is no toxiproxy here; this forwards requests to a real registry and, for requests a
rule matches, answers 429/503 or drops the connection instead, a given number of times, or
relays the real answer tampered with: cut short, one byte flipped, trickled, headers replaced.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

Matcher = Callable[[str, str], bool]  # (method, path) -> applies?
RELAY = -1  # a Fault status: forward the request, then tamper with the real answer


@dataclass
class Fault:
    matches: Matcher
    status: int  # 0 drops the connection without answering; RELAY tampers with the answer
    times: int
    retry_after: str | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hits: int = 0
    header: tuple[str, str] | None = None  # also require this request header (name, value)
    cut_at: int | None = None  # RELAY: send this many body bytes, then drop the connection
    corrupt: bool = False  # RELAY: flip the body's last byte
    trickle: float = 0.0  # RELAY: seconds between body bytes


@dataclass(frozen=True)
class Recorded:
    """A request as the proxy received it (kept only when the proxy records)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FaultyProxy:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    record: bool = False  # keep headers and bodies too (small requests: AWS API calls)
    recorded: list[Recorded] = field(default_factory=list)
    body_bytes: int = 0  # request bodies forwarded upstream (uploads)
    first_request_at: float | None = None  # time.monotonic() of the first request
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(
        self,
        matches: Matcher,
        status: int,
        times: int,
        retry_after: str | None = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        header: tuple[str, str] | None = None,
    ) -> Fault:
        """Answer matching requests (with `header`, when given) with `status` (0: drop the
        connection) `times` times."""
        fault = Fault(matches, status, times, retry_after, body, dict(headers or {}))
        fault.header = header
        self.faults.append(fault)
        return fault

    def tamper(
        self,
        matches: Matcher,
        times: int,
        *,
        cut_at: int | None = None,
        corrupt: bool = False,
        trickle: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Relay matching requests, then cut, corrupt or trickle the answer's body or replace
        some of its headers, `times` times."""
        fault = Fault(matches, RELAY, times, headers=dict(headers or {}))
        fault.cut_at, fault.corrupt, fault.trickle = cut_at, corrupt, trickle
        self.faults.append(fault)
        return fault

    def _take_fault(self, method: str, path: str, headers: dict[str, str]) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                wanted = fault.header
                if wanted is not None and headers.get(wanted[0].lower()) != wanted[1]:
                    continue
                if fault.hits < fault.times and fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None


def _handler(proxy: FaultyProxy, client: httpx.Client) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length", "0") or 0)
            body = self.rfile.read(length) if length else b""
            with proxy._lock:
                proxy.body_bytes += len(body)
                if proxy.first_request_at is None:
                    proxy.first_request_at = time.monotonic()
                if proxy.record:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    proxy.recorded.append(Recorded(self.command, self.path, headers, body))
            lowered = {k.lower(): v for k, v in self.headers.items()}
            fault = proxy._take_fault(self.command, self.path, lowered)
            if fault is not None and fault.status != RELAY:
                proxy.requests.append((self.command, self.path, fault.status))
                if fault.status == 0:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response(fault.status)
                if fault.retry_after is not None:
                    self.send_header("Retry-After", fault.retry_after)
                for key, value in fault.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(fault.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(fault.body)
                return
            headers = [(k, v) for k, v in self.headers.items() if k.lower() != "host"]
            request = client.build_request(
                self.command, proxy.upstream + self.path, headers=headers, content=body
            )
            response = client.send(request, stream=True)
            try:
                proxy.requests.append((self.command, self.path, response.status_code))
                self.send_response(response.status_code)
                replaced = {k.lower() for k in fault.headers} if fault else set()
                for key, value in response.headers.multi_items():
                    if key.lower() in ("transfer-encoding", "connection", "content-length"):
                        continue
                    if key.lower() in replaced:
                        continue
                    relative = key.lower() == "location" and value.startswith(proxy.upstream)
                    self.send_header(key, value[len(proxy.upstream) :] if relative else value)
                for key, value in (fault.headers if fault else {}).items():
                    self.send_header(key, value)
                data = response.read() if self.command != "HEAD" else b""
                length_header = response.headers.get("Content-Length")
                self.send_header(
                    "Content-Length",
                    length_header if self.command == "HEAD" and length_header else str(len(data)),
                )
                self.end_headers()
                if data:
                    self._write_body(data, fault)
            finally:
                response.close()

        def _write_body(self, data: bytes, fault: Fault | None) -> None:
            if fault is None:
                self.wfile.write(data)
                return
            if fault.corrupt:
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            if fault.cut_at is not None:
                self.wfile.write(data[: fault.cut_at])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault.trickle:
                for offset in range(len(data)):
                    self.wfile.write(data[offset : offset + 1])
                    self.wfile.flush()
                    time.sleep(fault.trickle)
                return
            self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _relay  # noqa: N815

    return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client killed mid-request (the kill-and-resume tests do that) is not news."""
        if isinstance(sys.exc_info()[1], (ConnectionError, httpx.HTTPError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def start_proxy(upstream: str, record: bool = False) -> tuple[FaultyProxy, str, Callable[[], None]]:
    """Start a proxy in front of `upstream`; returns it, its host:port, and a stop function."""
    proxy = FaultyProxy(upstream.rstrip("/"), record=record)
    client = httpx.Client(timeout=60.0)
    server = _QuietServer(("127.0.0.1", 0), _handler(proxy, client))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        client.close()

    return proxy, f"127.0.0.1:{server.server_address[1]}", stop


def iter_matching(proxy: FaultyProxy, method: str, fragment: str) -> Iterator[int]:
    """Statuses of the requests that went through with this method and path fragment."""
    for seen_method, path, status in proxy.requests:
        if seen_method == method and fragment in path:
            yield status
