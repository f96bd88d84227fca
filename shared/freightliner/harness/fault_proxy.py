"""A fault-injecting HTTP reverse proxy in front of a loopback registry: the unreliable
network and registry a fleet meets, on a schedule and at rates, for the reliability benchmark
and the pacing tests.

Faults, checked in this order for every request:
- a switchable outage (every request answered 503, or the connection dropped);
- 429 storms with Retry-After (started by hand or every `storm_every` seconds);
- a quota: requests beyond `quota_rps` (a token bucket, one second's burst) answered 429 with
  the Retry-After that a registry enforcing that quota would send;
- random 503s (`error_rate`);
- connection resets mid-blob (`reset_rate`): a blob download cut after half its body, or an
  upload's connection dropped after half its body was read.
It counts what it did and what went through (completed blob uploads per digest, for the
duplicate-upload figure; the time of every answer, for rates and recovery times). The
scripted, count-based proxy the tests use for single faults is tests/support/faulty_proxy.py.
"""

from __future__ import annotations

import collections
import math
import random
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

import httpx

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass(frozen=True)
class FaultPlan:
    error_rate: float = 0.0
    """Share of requests answered 503 instead of being forwarded."""
    reset_rate: float = 0.0
    """Share of blob transfers (downloads and uploads with a body) cut halfway."""
    quota_rps: float | None = None
    """Requests per second the registry allows; beyond it: 429 with Retry-After."""
    storm_every: float | None = None
    """Seconds from the start of one 429 storm to the next (None: only `storm()` starts one)."""
    storm_seconds: float = 2.0
    """How long a storm lasts."""
    storm_retry_after: int = 1
    """The Retry-After a storm's 429s carry (seconds)."""
    outage_mode: str = "503"
    """During an outage: "503" answers every request so, "drop" closes the connection."""
    seed: int = 0


@dataclass(frozen=True)
class Answer:
    at: float  # time.monotonic()
    method: str
    path: str
    status: int  # 0: the connection was dropped
    fault: str  # "" forwarded as the registry answered, else the fault injected


@dataclass
class FaultCounts:
    requests: int = 0
    forwarded: int = 0
    injected_503: int = 0
    resets: int = 0
    storm_429: int = 0
    quota_429: int = 0
    outage: int = 0
    uploads_completed: collections.Counter[str] = field(default_factory=collections.Counter)
    """Blob uploads the registry committed (PUT ...?digest= answered 201), per
    `repository@digest`."""
    answers: list[Answer] = field(default_factory=list)

    @property
    def duplicate_uploads(self) -> int:
        """Committed uploads of a blob the repository already had from an earlier upload."""
        return sum(n - 1 for n in self.uploads_completed.values())


class _Quota:
    """The registry's side of a rate quota (a token bucket, one second's burst)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self.tokens = self.burst
        self.at = time.monotonic()

    def take(self, now: float) -> float:
        """0 when the request is within the quota, else the seconds until it would be."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class FaultProxy:
    """Start with `with FaultProxy(upstream, plan) as proxy:`; point clients at `proxy.url`."""

    def __init__(self, upstream: str, plan: FaultPlan | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.plan = plan or FaultPlan()
        self.counts = FaultCounts()
        self._lock = threading.Lock()
        self._random = random.Random(self.plan.seed)
        self._quota = _Quota(self.plan.quota_rps) if self.plan.quota_rps else None
        self._outage = False
        self._storm_until = -math.inf
        self._started = time.monotonic()
        self._client = httpx.Client(timeout=60.0)
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> FaultProxy:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- switches -----------------------------------------------------------------------

    def outage(self, on: bool) -> None:
        """Take the registry down (every request refused) or bring it back."""
        with self._lock:
            self._outage = on

    def storm(self, seconds: float) -> None:
        """Answer every request 429 for the next `seconds`."""
        with self._lock:
            self._storm_until = time.monotonic() + seconds

    # -- deciding -----------------------------------------------------------------------

    def _decide(self, now: float) -> tuple[str, int]:
        """The fault for a request arriving `now` ("" for none) and its Retry-After."""
        plan = self.plan
        with self._lock:
            self.counts.requests += 1
            if self._outage:
                self.counts.outage += 1
                return "outage", 0
            every = plan.storm_every
            in_storm = now < self._storm_until or (
                every is not None and (now - self._started) % every < plan.storm_seconds
            )
            if in_storm:
                self.counts.storm_429 += 1
                return "storm", plan.storm_retry_after
            if self._quota is not None:
                wait = self._quota.take(now)
                if wait > 0:
                    self.counts.quota_429 += 1
                    return "quota", max(1, math.ceil(wait))
            if self._random.random() < plan.error_rate:
                self.counts.injected_503 += 1
                return "503", 0
            return "", 0

    def _reset_now(self) -> bool:
        with self._lock:
            if self._random.random() < self.plan.reset_rate:
                self.counts.resets += 1
                return True
            return False

    def _record(self, method: str, path: str, status: int, fault: str) -> None:
        with self._lock:
            self.counts.answers.append(Answer(time.monotonic(), method, path, status, fault))
            if fault:
                return
            self.counts.forwarded += 1
            query = parse_qs(urlsplit(path).query)
            if method == "PUT" and status == 201 and "/blobs/uploads/" in path:
                repository = urlsplit(path).path.removeprefix("/v2/").split("/blobs/uploads/")[0]
                for digest in query.get("digest", []):
                    self.counts.uploads_completed[f"{repository}@{digest}"] += 1


def _drop(handler: BaseHTTPRequestHandler) -> None:
    """Close the connection with a reset (RST), as a failing network does."""
    handler.close_connection = True
    sock = handler.connection
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _read_body(handler: BaseHTTPRequestHandler, limit: int | None = None) -> bytes:
    """The request body (Content-Length or chunked), or its first `limit` bytes."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        parts: list[bytes] = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                return b"".join(parts)[:limit]
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length", "0") or 0)
    return handler.rfile.read(length if limit is None else min(limit, length))


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _answer(self, status: int, retry_after: int = 0) -> None:
            self.send_response(status)
            if retry_after:
                self.send_header("Retry-After", str(retry_after))
            body = b'{"errors":[{"code":"TOOMANYREQUESTS"}]}' if status == 429 else b""
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _serve(self) -> None:
            method, path = self.command, self.path
            fault, retry_after = proxy._decide(time.monotonic())
            if fault == "outage" and proxy.plan.outage_mode == "drop":
                proxy._record(method, path, 0, fault)
                _drop(self)
                return
            upload = method in ("PUT", "PATCH") and "/blobs/uploads/" in path
            declared = int(self.headers.get("Content-Length", "0") or 0)
            if not fault and upload and declared > 1 and proxy._reset_now():
                _read_body(self, declared // 2)  # half the blob arrived, then the network broke
                proxy._record(method, path, 0, "reset")
                _drop(self)
                return
            body = _read_body(self)
            if fault:
                status = 503 if fault in ("outage", "503") else 429
                proxy._record(method, path, status, fault)
                self._answer(status, retry_after)
                return
            self._forward(method, path, body)

        def _forward(self, method: str, path: str, body: bytes) -> None:
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
            try:
                response = proxy._client.request(
                    method, proxy.upstream + path, headers=headers, content=body
                )
            except httpx.HTTPError:
                proxy._record(method, path, 0, "upstream unreachable")
                _drop(self)
                return
            data = b"" if method == "HEAD" else response.content
            cut = method == "GET" and "/blobs/" in path and len(data) > 1 and proxy._reset_now()
            proxy._record(method, path, response.status_code, "reset" if cut else "")
            self.send_response(response.status_code)
            for key, value in response.headers.multi_items():
                if key.lower() in HOP_BY_HOP:
                    continue
                relative = key.lower() == "location" and value.startswith(proxy.upstream)
                self.send_header(key, value[len(proxy.upstream) :] if relative else value)
            length = response.headers.get("Content-Length") if method == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            if cut:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                _drop(self)
                return
            self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve  # noqa: N815

    return Handler


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up, or a connection this proxy reset on purpose, is no news."""
        if isinstance(sys.exc_info()[1], OSError | ValueError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]
