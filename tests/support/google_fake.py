"""A loopback HTTP fake of the few Google endpoints the project calls.

There is no Secret Manager emulator, and no Pub/Sub one speaking REST installs here: this
serves Secret Manager's v1 REST endpoints (create, addVersion, access, list, delete, destroy),
Pub/Sub's v1 REST endpoints (topics, subscriptions, publish, pull, acknowledge,
modifyAckDeadline, with ack deadlines and redelivery), Cloud Logging's `entries:list` (the
filter subset `freightliner trace` writes: a timestamp window AND an OR of `jsonPayload`
equalities and regular expressions, pages by `pageToken`), an OAuth token endpoint for
service-account keys (JWT bearer grant, signature checked), the STS token exchange that
workload identity federation uses, and the metadata server's probe, access token and ID token
endpoints (point GCE_METADATA_HOST and GCE_METADATA_IP at `host`). Every API call needs a
token it issued. The real google-auth code runs against it up to the wire.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

_SECRET = re.compile(r"^/v1/projects/(?P<p>[^/]+)/secrets/(?P<s>[^/:]+)")
IDENTITY_PATH = "/computeMetadata/v1/instance/service-accounts/default/identity"
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
_PUBSUB = re.compile(
    r"^/v1/(?P<name>projects/[^/]+/(?P<kind>topics|subscriptions)/[^/:]+)(?::(?P<verb>\w+))?$"
)
SERVICE_ACCOUNT_ID = "112233445566778899001"  # the `sub` of the ID tokens it issues
_COMPARISON = re.compile(r'(?P<field>[\w.]+)(?P<op>>=|<=|=~|=)"(?P<value>(?:[^"\\]|\\.)*)"')
_FILTER_SHAPE = re.compile(r"^timestamp>=\S+ AND timestamp<=\S+ AND \((?P<any>.+)\)$")


@dataclass
class _Secret:
    created: str
    versions: list[tuple[bytes | None, str]] = field(default_factory=list)  # (data, state)


@dataclass
class _Delivery:
    message_id: str
    data: bytes
    ack_id: str = ""
    leased_until: float = 0.0  # a pulled message comes back once its ack deadline passes
    deliveries: int = 0


@dataclass
class _Subscription:
    topic: str
    ack_deadline: int = 10
    messages: list[_Delivery] = field(default_factory=list)


@dataclass
class GoogleFake:
    access_token: str = "ya29.fake-access-token"
    secrets: dict[tuple[str, str], _Secret] = field(default_factory=dict)
    denied: set[tuple[str, str]] = field(default_factory=set)  # (secret id, permission)
    requests: list[tuple[str, str]] = field(default_factory=list)
    exchanges: list[dict[str, str]] = field(default_factory=list)
    identity_requests: list[dict[str, str]] = field(default_factory=list)
    id_tokens: list[str] = field(default_factory=list)
    url: str = ""
    page_size: int = 2
    topics: set[str] = field(default_factory=set)
    subscriptions: dict[str, _Subscription] = field(default_factory=dict)
    acked: list[str] = field(default_factory=list)  # message ids
    log_entries: list[dict] = field(default_factory=list)
    entry_filters: list[str] = field(default_factory=list)  # the filters entries:list got
    _key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def service_account_key(self, email: str = "mirror@proj.iam.gserviceaccount.com") -> dict:
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": "proj",
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": email,
            "client_id": "1",
            "token_uri": f"{self.url}/token",
        }

    def external_account_config(self) -> dict:
        """Workload identity federation from AWS (the Lambda's own credentials)."""
        return {
            "type": "external_account",
            "audience": "//iam.googleapis.com/projects/1/locations/global/"
            "workloadIdentityPools/aws/providers/lambda",
            "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
            "token_url": f"{self.url}/v1/token",
            "credential_source": {
                "environment_id": "aws1",
                "regional_cred_verification_url": "https://sts.{region}.amazonaws.com"
                "?Action=GetCallerIdentity&Version=2011-06-15",
            },
        }

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    # -- the server -------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[int, dict | str]:
        with self._lock:
            self.requests.append((method, path))
        if path == "/":  # the metadata server probe
            return (200, "") if headers.get("metadata-flavor") == "Google" else (403, "")
        if path == IDENTITY_PATH:
            return self._identity(query, headers)
        if path == TOKEN_PATH:
            if headers.get("metadata-flavor") != "Google":
                return 403, "Missing Metadata-Flavor:Google header."
            return 200, {"access_token": self.access_token, "expires_in": 3600}
        if path == "/token":
            return self._oauth(parse_qs(body.decode()))
        if path == "/v1/token":
            return self._sts(parse_qs(body.decode()))
        if not self._authorized(headers.get("authorization", "")):
            return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        pubsub = _PUBSUB.match(path)
        with self._lock:
            if path == "/v2/entries:list" and method == "POST":
                return self._list_entries(json.loads(body))
            if pubsub:
                return self._pubsub(method, pubsub["name"], pubsub["kind"], pubsub["verb"], body)
            return self._secret_manager(method, path, query, body)

    def _authorized(self, header: str) -> bool:
        """The access token this fake issued, or a JWT the service-account key signed (the
        client libraries send those directly, as Google accepts)."""
        token = header.removeprefix("Bearer ")
        if token == self.access_token:
            return True
        try:
            jwt.decode(
                token, self._key.public_key(), algorithms=["RS256"], options={"verify_aud": False}
            )
        except jwt.PyJWTError:
            return False
        return True

    def _oauth(self, form: dict[str, list[str]]) -> tuple[int, dict]:
        assertion = form.get("assertion", [""])[0]
        try:
            jwt.decode(
                assertion,
                self._key.public_key(),
                algorithms=["RS256"],
                audience="https://oauth2.googleapis.com/token",  # what google-auth signs
            )
        except jwt.PyJWTError as exc:
            return 400, {"error": "invalid_grant", "error_description": type(exc).__name__}
        return 200, {"access_token": self.access_token, "expires_in": 3600, "token_type": "Bearer"}

    def _identity(
        self, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, dict | str]:
        """An ID token signed with this fake's key, as GCE's metadata server issues them."""
        flavor = headers.get("metadata-flavor", "")
        audience = query.get("audience", [""])[0]
        self.identity_requests.append(
            {"audience": audience, "format": query.get("format", [""])[0], "flavor": flavor}
        )
        if flavor != "Google":
            return 403, "Missing Metadata-Flavor:Google header."
        if not audience:
            return 400, "non-empty audience parameter required"
        now = int(time.time())
        token = jwt.encode(
            {
                "iss": "https://accounts.google.com",
                "aud": audience,
                "azp": SERVICE_ACCOUNT_ID,
                "sub": SERVICE_ACCOUNT_ID,
                "iat": now,
                "exp": now + 3600,
                "nonce": len(self.id_tokens),  # every token differs
            },
            self._key,
            algorithm="RS256",
        )
        self.id_tokens.append(token)
        return 200, token

    def _sts(self, form: dict[str, list[str]]) -> tuple[int, dict]:
        subject = json.loads(unquote(form.get("subject_token", ["{}"])[0]))  # URL-encoded JSON
        signed = {h["key"].lower(): h["value"] for h in subject.get("headers", [])}
        if not signed.get("authorization", "").startswith("AWS4-HMAC-SHA256"):
            return 400, {"error": "invalid_grant", "error_description": "not a signed request"}
        self.exchanges.append({"audience": form["audience"][0], "url": subject["url"]})
        return 200, {
            "access_token": self.access_token,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": 3600,
        }

    def _secret_manager(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, dict]:
        listing = re.match(r"^/v1/projects/([^/]+)/secrets$", path)
        if listing and method == "GET":
            project = listing[1]
            if ("*", "secretmanager.secrets.list") in self.denied:
                return _denied("secretmanager.secrets.list", f"projects/{project}")
            names = sorted(s for p, s in self.secrets if p == project)
            start = int(query.get("pageToken", ["0"])[0])
            page = names[start : start + self.page_size]
            reply: dict = {
                "secrets": [
                    {
                        "name": f"projects/{project}/secrets/{n}",
                        "createTime": self.secrets[(project, n)].created,
                    }
                    for n in page
                ]
            }
            if start + self.page_size < len(names):
                reply["nextPageToken"] = str(start + self.page_size)
            return 200, reply
        if listing and method == "POST":
            project, secret_id = listing[1], query["secretId"][0]
            if (secret_id, "secretmanager.secrets.create") in self.denied:
                return _denied("secretmanager.secrets.create", f"projects/{project}")
            if (project, secret_id) in self.secrets:
                return _error(409, "ALREADY_EXISTS", f"Secret [{secret_id}] already exists.")
            self.secrets[(project, secret_id)] = _Secret(created=_now())
            return 200, {"name": f"projects/{project}/secrets/{secret_id}", "createTime": _now()}
        match = _SECRET.match(path)
        if not match:
            return _error(404, "NOT_FOUND", "no such method")
        project, secret_id, rest = match["p"], match["s"], path[match.end() :]
        resource = f"projects/{project}/secrets/{secret_id}"
        permission = {
            (":addVersion", "POST"): "secretmanager.versions.add",
            ("", "DELETE"): "secretmanager.secrets.delete",
        }.get((rest, method))
        if rest.endswith(":access"):
            permission = "secretmanager.versions.access"
        elif rest.endswith(":destroy"):
            permission = "secretmanager.versions.destroy"
        if permission is None:
            return _error(404, "NOT_FOUND", "no such method")
        if (secret_id, permission) in self.denied:
            return _denied(permission, resource)
        secret = self.secrets.get((project, secret_id))
        if secret is None:
            return _error(404, "NOT_FOUND", f"Secret [{resource}] not found or has no versions.")
        if rest == ":addVersion":
            data = base64.b64decode(json.loads(body)["payload"]["data"])
            secret.versions.append((data, "ENABLED"))
            number = len(secret.versions)
            return 200, {"name": f"{resource}/versions/{number}", "createTime": _now(), "state": 1}
        if rest == "":
            del self.secrets[(project, secret_id)]
            return 200, {}
        version = rest.split("/versions/", 1)[1].split(":", 1)[0]
        if version == "latest":
            enabled = [i for i, (_, state) in enumerate(secret.versions, 1) if state == "ENABLED"]
            if not enabled:
                return _error(
                    404, "NOT_FOUND", f"Secret [{resource}] not found or has no versions."
                )
            number = enabled[-1]
        else:
            number = int(version)
        if not 1 <= number <= len(secret.versions):
            return _error(
                404, "NOT_FOUND", f"Secret Version [{resource}/versions/{version}] not found."
            )
        data, state = secret.versions[number - 1]
        name = f"{resource}/versions/{number}"
        if rest.endswith(":destroy"):
            secret.versions[number - 1] = (None, "DESTROYED")
            return 200, {"name": name, "state": 3, "destroyTime": _now()}
        if state == "DESTROYED":
            return _error(
                400, "FAILED_PRECONDITION", f"Secret Version [{name}] is in DESTROYED state."
            )
        assert data is not None
        return 200, {"name": name, "payload": {"data": base64.b64encode(data).decode()}}

    # -- Pub/Sub ----------------------------------------------------------------------

    def create_subscription(self, name: str, topic: str, ack_deadline: int = 10) -> None:
        with self._lock:
            self.topics.add(topic)
            self.subscriptions[name] = _Subscription(topic, ack_deadline)

    def publish(self, topic: str, data: bytes) -> str:
        with self._lock:
            return self._publish(topic, data)

    def _publish(self, topic: str, data: bytes) -> str:
        message_id = str(len(self.requests) * 1000 + len(self.acked))
        for subscription in self.subscriptions.values():
            if subscription.topic == topic:
                subscription.messages.append(_Delivery(message_id, data))
        return message_id

    def outstanding(self, subscription: str) -> int:
        """Messages not acknowledged yet (leased or not)."""
        with self._lock:
            return len(self.subscriptions[subscription].messages)

    def _pubsub(
        self, method: str, name: str, kind: str, verb: str | None, body: bytes
    ) -> tuple[int, dict]:
        request = json.loads(body) if body else {}
        if kind == "topics" and verb is None and method == "PUT":
            self.topics.add(name)
            return 200, {"name": name}
        if kind == "topics" and verb == "publish":
            if name not in self.topics:
                return _error(404, "NOT_FOUND", "Topic not found")
            ids = [
                self._publish(name, base64.b64decode(m.get("data", "")))
                for m in request["messages"]
            ]
            return 200, {"messageIds": ids}
        if kind == "subscriptions" and verb is None and method == "PUT":
            self.subscriptions[name] = _Subscription(
                request["topic"], int(request.get("ackDeadlineSeconds", 10))
            )
            return 200, {"name": name, "topic": request["topic"]}
        subscription = self.subscriptions.get(name)
        if subscription is None:
            return _error(404, "NOT_FOUND", "Subscription does not exist")
        if verb == "pull":
            return 200, self._pull(subscription, int(request.get("maxMessages", 0)))
        ack_ids = set(request.get("ackIds", []))
        if verb == "acknowledge":
            for delivery in subscription.messages:
                if delivery.ack_id in ack_ids:
                    self.acked.append(delivery.message_id)
            subscription.messages = [m for m in subscription.messages if m.ack_id not in ack_ids]
            return 200, {}
        if verb == "modifyAckDeadline":
            deadline = time.monotonic() + int(request["ackDeadlineSeconds"])
            for delivery in subscription.messages:
                if delivery.ack_id in ack_ids:
                    delivery.leased_until = deadline
            return 200, {}
        return _error(404, "NOT_FOUND", "no such method")

    def _pull(self, subscription: _Subscription, most: int) -> dict:
        if most < 1:
            return _error(400, "INVALID_ARGUMENT", "maxMessages must be positive")[1]
        now = time.monotonic()
        received = []
        for delivery in subscription.messages:
            if len(received) == most:
                break
            if delivery.leased_until > now:
                continue
            delivery.deliveries += 1
            delivery.ack_id = f"{delivery.message_id}-{delivery.deliveries}"
            delivery.leased_until = now + subscription.ack_deadline
            received.append(
                {
                    "ackId": delivery.ack_id,
                    "message": {
                        "data": base64.b64encode(delivery.data).decode(),
                        "messageId": delivery.message_id,
                        "publishTime": _now(),
                    },
                    "deliveryAttempt": delivery.deliveries,
                }
            )
        return {"receivedMessages": received} if received else {}

    # -- Cloud Logging ----------------------------------------------------------------

    def add_log_entry(
        self, project: str, payload: dict, timestamp: str, severity: str = "INFO"
    ) -> None:
        """A line the Cloud Function wrote (its JSON payload), as Cloud Logging keeps it."""
        with self._lock:
            self.log_entries.append(
                {
                    "logName": f"projects/{project}/logs/run.googleapis.com%2Fstdout",
                    "resource": {
                        "type": "cloud_run_revision",
                        "labels": {"service_name": "on-gar-push", "project_id": project},
                    },
                    "jsonPayload": payload,
                    "timestamp": timestamp,
                    "severity": severity,
                    "insertId": f"e{len(self.log_entries)}",
                }
            )

    def _list_entries(self, request: dict) -> tuple[int, dict]:
        names = request.get("resourceNames") or []
        text = request.get("filter", "")
        self.entry_filters.append(text)
        shape = _FILTER_SHAPE.match(text)
        if not names or not shape:
            return _error(400, "INVALID_ARGUMENT", "unsupported filter or no resourceNames")
        bounds = {
            m["op"]: _rfc3339(m["value"])
            for m in _COMPARISON.finditer(text)
            if m["field"] == "timestamp"
        }
        alternatives = [
            (m["field"].removeprefix("jsonPayload."), m["op"], re.sub(r"\\(.)", r"\1", m["value"]))
            for m in _COMPARISON.finditer(shape["any"])
        ]
        if not alternatives or any(f == "timestamp" for f, _, _ in alternatives):
            return _error(400, "INVALID_ARGUMENT", "unsupported filter")

        def wanted(entry: dict) -> bool:
            at = _rfc3339(entry["timestamp"])
            if not bounds[">="] <= at <= bounds["<="]:
                return False
            if not any(entry["logName"].startswith(n + "/") for n in names):
                return False
            payload = entry["jsonPayload"]
            return any(
                field in payload
                and (
                    str(payload[field]) == value
                    if op == "="
                    else re.search(value, str(payload[field])) is not None
                )
                for field, op, value in alternatives
            )

        found = sorted(
            (e for e in self.log_entries if wanted(e)), key=lambda e: _rfc3339(e["timestamp"])
        )
        start = int(request.get("pageToken") or 0)
        size = min(int(request.get("pageSize") or 50), self.page_size)
        reply: dict = {"entries": found[start : start + size]}
        if start + size < len(found):
            reply["nextPageToken"] = str(start + size)
        return 200, reply

    # -- helpers ----------------------------------------------------------------------

    def put_secret(self, project: str, secret_id: str, data: bytes) -> None:
        """A secret with one enabled version, as a deployment's operator would have made it."""
        with self._lock:
            secret = self.secrets.setdefault((project, secret_id), _Secret(created=_now()))
            secret.versions.append((data, "ENABLED"))

    def value(self, project: str, secret_id: str) -> list[bytes | None]:
        return [data for data, _ in self.secrets[(project, secret_id)].versions]


def _rfc3339(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _error(code: int, status: str, message: str) -> tuple[int, dict]:
    return code, {"error": {"code": code, "message": message, "status": status}}


def _denied(permission: str, resource: str) -> tuple[int, dict]:
    return _error(
        403,
        "PERMISSION_DENIED",
        f"Permission '{permission}' denied for resource '{resource}' (or it may not exist).",
    )


def _handler(fake: GoogleFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, reply = fake.handle(
                self.command, parts.path, parse_qs(parts.query), headers, body
            )
            text = isinstance(reply, str)  # the metadata server answers in plain text
            data = reply.encode() if text else json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/text" if text else "application/json")
            if text:
                self.send_header("Metadata-Flavor", "Google")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = _serve  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


def start_google_fake() -> tuple[GoogleFake, ThreadingHTTPServer]:
    fake = GoogleFake()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server


def serve_google_fake() -> Iterator[GoogleFake]:
    fake, server = start_google_fake()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def serve_google_fake_as_adc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GoogleFake]:
    """The fake as this process's Google: a service-account key it signs for as application
    default credentials, its Secret Manager endpoint, its metadata server, project `proj`."""
    for fake in serve_google_fake():
        key = tmp_path / "sa.json"
        key.write_text(json.dumps(fake.service_account_key()))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        monkeypatch.setenv("FREIGHTLINER_GCP_SECRETMANAGER_ENDPOINT", fake.url)
        monkeypatch.setenv("GCE_METADATA_HOST", fake.host)
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj")
        yield fake
