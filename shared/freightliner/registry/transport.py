"""HTTP to one registry: a pooled httpx client, the auth flow, and failure classification.

Every response status and transport exception is turned into the project's error taxonomy
here, once, with the registry, repository, reference and operation in the message. Every body
is read to a limit, under connect/read deadlines and a throughput floor.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar
from typing import Any

import httpcore
import httpx

from freightliner.about import user_agent
from freightliner.domain.errors import (
    DigestMismatch,
    Forbidden,
    FreightlinerError,
    InvalidInput,
    NotFound,
    RateLimited,
    TagConflict,
    Timeout,
    Unauthorized,
    Unavailable,
    Unsupported,
    Where,
)
from freightliner.domain.registries import TransferLimits
from freightliner.domain.retry import RetryPolicy, retry_after_seconds
from freightliner.registry.auth import AUTH_REFRESHED, MOUNT_FROM, RegistryAuth
from freightliner.registry.observe import RequestObserver, observed
from freightliner.registry.pacing import HostPacer, operation_class
from freightliner.registry.throughput import ThroughputFloor
from freightliner.registry.tls import tls_context

USER_AGENT = user_agent()
BODY_LIMIT = 1024 * 1024
"""Bodies nobody needs large: upload and push replies, upload status, tokens."""
ERROR_BODY_LIMIT = 64 * 1024
"""How much of an error reply is read for its OCI error codes."""
READ_BYTES = 1024 * 1024
"""Bytes asked of a socket per read. httpcore's 64 KiB (its `READ_NUM_BYTES`, chosen for web
pages: encode/httpcore#135) makes a blob stream pay Python's per-chunk work (an h11 event,
generator steps, and a send on the way out) sixteen times per MiB; 1 MiB reads take a third
off the CPU a 256 MB blob costs to read and hash here. Every limit is still counted in bytes."""
httpcore.HTTP11Connection.READ_NUM_BYTES = READ_BYTES


@dataclass(frozen=True, slots=True)
class Reply:
    """A response read whole (to a limit): what buffered requests hand back."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


class _NoCookies(CookieJar):
    """A cookie jar that keeps nothing. Registries authenticate with headers, and Docker's,
    containerd's and skopeo's clients keep no cookies either; reading every reply's
    `Set-Cookie` through http.cookiejar cost a seventh of a request's CPU."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def add_cookie_header(self, request: Any) -> None:
        return None


class CredentialsRefreshed(Exception):
    """A streamed request met a 401 and the credentials were refreshed: a stream cannot be
    replayed, so the uploader restarts once, and a second refusal is `Unauthorized`. Not in
    the error taxonomy: it never leaves the registry client."""

    def __init__(self, where: Where) -> None:
        super().__init__(where.describe())
        self.where = where


def read_capped(response: httpx.Response, limit: int) -> bytes:
    """At most `limit` bytes of a body, however long it is (for error replies)."""
    try:
        return response.content[:limit]
    except httpx.ResponseNotRead:
        pass
    data = b""
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= limit:
                break
    except httpx.HTTPError:
        pass
    return data[:limit]


def _registry_errors(response: httpx.Response) -> str:
    """The OCI error codes and messages in a response body, if it has any."""
    try:
        body = json.loads(read_capped(response, ERROR_BODY_LIMIT) or b"{}")
    except ValueError:
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return ""
    parts = []
    for error in errors[:3]:
        if isinstance(error, dict):
            text = f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
            parts.append(text[:200])  # the registry's words, kept to a line
    return "; ".join(parts)


@contextlib.contextmanager
def _transport_failures(where: Where, during: str = "") -> Iterator[None]:
    """httpx's timeouts and connection failures as the taxonomy's Timeout and Unavailable."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise Timeout(f"timed out{during} ({type(exc).__name__})", where) from None
    except httpx.TransportError as exc:
        raise Unavailable(
            f"connection failed{during} ({type(exc).__name__}: {exc})", where
        ) from None


def classify(response: httpx.Response, where: Where) -> FreightlinerError:
    """The taxonomy error for a response that was not what the operation expected."""
    status = response.status_code
    detail = _registry_errors(response)
    suffix = f" ({detail})" if detail else ""
    if status == 429:
        return RateLimited(
            f"rate limited (HTTP 429){suffix}",
            where,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    if status >= 500 or status == 408:
        return Unavailable(f"registry error HTTP {status}{suffix}", where)
    if status == 401:
        return Unauthorized(f"authentication failed (HTTP 401){suffix}", where)
    if status == 403:
        return Forbidden(f"access denied (HTTP 403){suffix}", where)
    if status == 404:
        return NotFound(f"not found (HTTP 404){suffix}", where)
    lowered = detail.lower()
    if "digest_invalid" in lowered:
        return DigestMismatch(f"registry refused the content's digest{suffix}", where)
    if "tag_invalid" in lowered and "immutable" in lowered:
        return TagConflict(f"tag is immutable and points at another digest{suffix}", where)
    return InvalidInput(f"registry refused the request (HTTP {status}){suffix}", where)


class RegistryTransport:
    """Requests to one registry endpoint; thread-safe and shared by all copies to that host."""

    def __init__(
        self,
        host: str,
        endpoint: str,
        auth: RegistryAuth,
        *,
        verify_tls: bool = True,
        max_connections: int = 16,
        limits: TransferLimits | None = None,
        retry: RetryPolicy | None = None,
        observer: RequestObserver | None = None,
        pacer: HostPacer | None = None,
    ) -> None:
        self.host = host
        self.observer = observer
        self.endpoint = endpoint.rstrip("/")
        base = httpx.URL(self.endpoint)
        self._origin = f"{base.scheme}://{base.netloc.decode('ascii')}"
        self.retry = retry or RetryPolicy()
        self.pacer = pacer or HostPacer(host)
        self.limits = limits or TransferLimits()
        self.auth = auth
        auth.bind(self.endpoint)
        self._client = httpx.Client(
            base_url=self.endpoint,
            auth=auth,
            verify=tls_context(verify_tls),
            timeout=httpx.Timeout(self.limits.read_timeout, connect=self.limits.connect_timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=True,
            cookies=_NoCookies(),
        )

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        url: str,
        where: Where,
        *,
        ok: tuple[int, ...] = (200,),
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        mount_from: str | None = None,
        missing_ok: bool = False,
        limit: int = BODY_LIMIT,
        what: str = "reply",
    ) -> Reply | None:
        """A buffered request with retries; `None` for 404 when `missing_ok`. A body over
        `limit` bytes (`what` names it in the error) is refused unread."""

        def attempt() -> Reply | None:
            with self._send(
                method,
                url,
                where,
                headers=headers,
                params=params,
                content=content,
                mount_from=mount_from,
            ) as response:
                if missing_ok and response.status_code == 404:
                    return None
                if response.status_code not in ok:
                    raise classify(response, where)
                # A HEAD's Content-Length describes the entity, not a body: none is read.
                body = b"" if method == "HEAD" else self.read_body(response, where, limit, what)
                return Reply(response.status_code, response.headers, body)

        return self.retry.call(attempt)

    def read_body(self, response: httpx.Response, where: Where, limit: int, what: str) -> bytes:
        """A whole body, refused past `limit` bytes (before reading, when it says its size)."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(what, int(declared), limit, where)
        parts: list[bytes] = []
        seen = 0
        for chunk in self.body_chunks(response, where, raw=False):
            seen += len(chunk)
            if seen > limit:
                raise _too_large(what, seen, limit, where)
            parts.append(chunk)
        return b"".join(parts)

    def body_chunks(self, response: httpx.Response, where: Where, *, raw: bool) -> Iterator[bytes]:
        """A body's chunks under the throughput floor, failures named after `where` (so a
        source that breaks while its bytes feed a destination upload is blamed, not the
        destination). `raw`: bytes as sent, no content decoding (blobs)."""
        chunks = response.iter_raw() if raw else response.iter_bytes()
        floor = ThroughputFloor(self.limits, where)
        with _transport_failures(where, " while reading"):
            yield from floor.reads(chunks)

    @contextlib.contextmanager
    def stream(
        self,
        method: str,
        url: str,
        where: Where,
        *,
        ok: tuple[int, ...] = (200,),
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        content: Any = None,
    ) -> Iterator[httpx.Response]:
        """One streamed request, no retries: the caller restarts the whole operation (and
        must on `CredentialsRefreshed`)."""
        with self._send(
            method,
            url,
            where,
            headers=headers,
            params=params,
            content=content,
        ) as response:
            if response.status_code == 401 and response.request.extensions.get(AUTH_REFRESHED):
                raise CredentialsRefreshed(where)
            if response.status_code not in ok:
                raise classify(response, where)
            yield response

    @contextlib.contextmanager
    def _send(self, method: str, url: str, where: Where, **kwargs: Any) -> Iterator[httpx.Response]:
        """One request, told to the request observer (if any) when it ends."""
        with (
            observed(self.observer, self.host, method, where.operation) as seen,
            self._exchange(method, url, where, **kwargs) as response,
        ):
            seen.response = response
            yield response

    @contextlib.contextmanager
    def _exchange(
        self,
        method: str,
        url: str,
        where: Where,
        *,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        content: Any,
        mount_from: str | None = None,
    ) -> Iterator[httpx.Response]:
        target = httpx.URL(self.absolute(url))
        if params:
            # Merge, never replace: upload URLs carry state in their query string.
            target = target.copy_merge_params(params)
        request = self._client.build_request(method, target, headers=headers, content=content)
        if mount_from:
            request.extensions[MOUNT_FROM] = mount_from
        with self.pacer.permit(operation_class(method, target.path), where) as permit:
            with _transport_failures(where):
                response = self._client.send(request, stream=True, follow_redirects=True)
            if response.status_code == 429:  # the whole host backs off, not one request
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                self.pacer.throttled(permit, retry_after)
            try:
                with _transport_failures(where, " while streaming"):
                    yield response
            finally:
                _end(response)

    def write_floor(self, where: Where) -> ThroughputFloor:
        """The throughput floor for a request body sent to this registry."""
        return ThroughputFloor(self.limits, where)

    def absolute(self, location: str) -> str:
        """Resolve a `Location` header against the endpoint (registries send both forms).
        An absolute path (every API path) goes onto the endpoint's origin as text, and a URL
        already on that origin stays as it is: httpx's parse-and-join cost a tenth of a tree
        sync's CPU, and the one parse that follows still normalises the path."""
        if location.startswith("/") and not location.startswith("//"):
            return self._origin + location
        if location.startswith(self._origin + "/"):
            return location  # absolute on the endpoint's own origin (distribution's form)
        return str(httpx.URL(self.endpoint).join(location))


def _end(response: httpx.Response) -> None:
    """Close an exchange, reading its end first where it has no body to read (a HEAD, a 204 or
    304, `Content-Length: 0`: an upload's or a mount's reply): a response closed before its end
    closes its connection too, and every later request would pay a new TCP connection. The
    end comes from the headers alone, so nothing more is read from the registry."""
    if not response.is_stream_consumed and (
        response.request.method == "HEAD"
        or response.status_code in (204, 304)
        or response.headers.get("Content-Length") == "0"
    ):
        with contextlib.suppress(httpx.HTTPError):
            for _ in response.iter_raw():
                break  # there is nothing; a registry that disagrees is not read further
    response.close()


def _too_large(what: str, size: int, limit: int, where: Where) -> Unsupported:
    return Unsupported(f"{what} is larger than the limit of {limit} bytes ({size})", where)
