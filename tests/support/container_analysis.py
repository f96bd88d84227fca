"""A loopback stand-in for the Container Analysis API (containeranalysis.googleapis.com).

There is no emulator: this serves `GET /v1/projects/{project}/occurrences` with the
`kind="…" AND resourceUrl="…"` filter the scanner sends, pages shorter than asked for (the
client must follow `nextPageToken`), Google-shaped errors, and insists on a bearer token.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_PATH = re.compile(r"^/v1/projects/([^/]+)/occurrences$")
_FILTER = re.compile(r'^kind="([A-Z_]+)" AND resourceUrl="https://[^/]+/([^/]+)/[^"]+"$')


def discovery(status: str, message: str = "") -> dict[str, Any]:
    """A DISCOVERY occurrence with this analysis status."""
    details: dict[str, Any] = {"analysisStatus": status, "continuousAnalysis": "ACTIVE"}
    if message:
        details["analysisStatusError"] = {"code": 2, "message": message}
    return {"kind": "DISCOVERY", "discovery": details}


@dataclass
class Seen:
    project: str
    kind: str
    resource: str
    page_token: str
    authorization: str


@dataclass
class FakeContainerAnalysis:
    token: str
    page_size: int = 2
    discoveries: dict[str, list[dict[str, Any] | None]] = field(default_factory=dict)
    vulnerabilities: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    faults: list[tuple[int, str]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, resource: str, *answers: dict[str, Any] | None) -> None:
        """DISCOVERY answers in turn (None: no occurrence yet); the last one stays."""
        self.discoveries[resource] = list(answers)

    def answer(self, query: dict[str, list[str]], path: str, auth: str) -> tuple[int, Any]:
        match = _PATH.match(path)
        if match is None:
            return 404, {"error": {"code": 404, "message": "no such method", "status": "NOT_FOUND"}}
        with self._lock:
            if self.faults:
                status, message = self.faults.pop(0)
                return status, {"error": {"code": status, "message": message}}
            if auth != f"Bearer {self.token}":
                return 401, {
                    "error": {
                        "code": 401,
                        "message": "Request had invalid authentication credentials.",
                        "status": "UNAUTHENTICATED",
                    }
                }
            found = _FILTER.match(query.get("filter", [""])[0])
            if found is None or found.group(2) != match.group(1):
                return 400, {"error": {"code": 400, "message": "invalid filter"}}
            kind = found.group(1)
            resource = query["filter"][0].split('resourceUrl="', 1)[1].rstrip('"')
            token = query.get("pageToken", [""])[0]
            self.seen.append(Seen(match.group(1), kind, resource, token, auth))
            occurrences = self._occurrences(kind, resource)
        start = int(token or 0)
        page = occurrences[start : start + self.page_size]
        body: dict[str, Any] = {"occurrences": page} if page else {}
        if start + self.page_size < len(occurrences):
            body["nextPageToken"] = str(start + self.page_size)
        return 200, body

    def _occurrences(self, kind: str, resource: str) -> list[dict[str, Any]]:
        if kind == "DISCOVERY":
            answers = self.discoveries.get(resource) or [None]
            current = answers.pop(0) if len(answers) > 1 else answers[0]
            return [] if current is None else [{**current, "resourceUri": resource}]
        return [
            {
                "name": f"projects/p/occurrences/{n}",
                "kind": "VULNERABILITY",
                "resourceUri": resource,
                "noteName": f"projects/goog-vulnz/notes/{cve}",
                "vulnerability": {"effectiveSeverity": severity, "shortDescription": cve},
            }
            for n, (cve, severity) in enumerate(self.vulnerabilities.get(resource, []))
        ]


def _handler(fake: FakeContainerAnalysis) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            status, body = fake.answer(
                parse_qs(parts.query), parts.path, self.headers.get("Authorization", "")
            )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def container_analysis(token: str) -> Iterator[FakeContainerAnalysis]:
    fake = FakeContainerAnalysis(token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
