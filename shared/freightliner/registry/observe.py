"""What a registry client tells an observer about each HTTP request it made.

The client stays portable (no tracing SDK here): whoever builds it may pass a
`RequestObserver`; the Lambda root passes one that records an X-Ray subsegment per request,
the CLI passes none. An observer is called on the thread that made the request, after the
response body was read or the request failed, and must not raise.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import httpx

log = logging.getLogger(__name__)

# `Where.operation` as the registry client names its requests → a short, stable operation name.
_OPERATIONS: dict[tuple[str, str], str] = {
    ("HEAD", "HEAD manifest"): "manifest-head",
    ("GET", "GET manifest"): "manifest-get",
    ("PUT", "PUT manifest"): "manifest-put",
    ("DELETE", "DELETE manifest"): "manifest-delete",
    ("DELETE", "DELETE tag"): "tag-delete",
    ("HEAD", "HEAD blob"): "blob-head",
    ("GET", "GET blob"): "blob-get",
    ("POST", "start blob upload"): "blob-upload-start",
    ("PUT", "PUT blob"): "blob-upload",
    ("PATCH", "PATCH blob"): "blob-upload-chunk",
    ("PUT", "PATCH blob"): "blob-upload-commit",
    ("GET", "PATCH blob"): "blob-upload-status",
    ("GET", "list tags"): "tags-list",
    ("GET", "list catalog"): "catalog-list",
    ("GET", "list referrers"): "referrers-list",
}


def operation_name(method: str, operation: str) -> str:
    """`manifest-get`, `blob-upload`, …: what a request did, in a name fit for a trace (an
    operation the table does not know keeps its own words, hyphenated)."""
    if operation.startswith("mount blob"):
        return "blob-mount"
    known = _OPERATIONS.get((method, operation))
    if known is not None:
        return known
    words = operation.lower().split() or [method.lower()]
    return "-".join(words)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One HTTP request to a registry, as it ended."""

    host: str
    operation: str
    method: str
    status: int | None
    """The response's status; None when no response came (refused, reset, timed out)."""
    bytes_sent: int
    """The request body's declared length."""
    bytes_received: int
    """Body bytes read from the network (as sent: before content decoding)."""
    started: float
    """Wall-clock start (epoch seconds)."""
    seconds: float
    error: str = ""
    """The failure's class name when the request failed in transport."""


class RequestObserver(Protocol):
    def request_finished(self, record: RequestRecord) -> None: ...


class _Seen:
    """The response of the request being observed, once there is one."""

    def __init__(self) -> None:
        self.response: httpx.Response | None = None


@contextlib.contextmanager
def observed(
    observer: RequestObserver | None, host: str, method: str, operation: str
) -> Iterator[_Seen]:
    """Around one request: tells `observer` (if any) how it ended, failed requests too.
    The block sets `seen.response` when the response arrives."""
    seen = _Seen()
    started, clock = time.time(), time.monotonic()
    error = ""
    try:
        yield seen
    except Exception as exc:
        error = type(exc).__name__
        raise
    finally:
        if observer is not None:
            response = seen.response
            declared = response.request.headers.get("Content-Length", "") if response else ""
            record = RequestRecord(
                host=host,
                operation=operation_name(method, operation),
                method=method,
                status=response.status_code if response is not None else None,
                bytes_sent=int(declared) if declared.isdigit() else 0,
                bytes_received=response.num_bytes_downloaded if response is not None else 0,
                started=started,
                seconds=time.monotonic() - clock,
                error=error,
            )
            try:
                observer.request_finished(record)
            except Exception:  # an observer's fault never fails a copy
                log.warning("request observer failed", exc_info=True)
