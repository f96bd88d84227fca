"""A Docker token server on loopback: the `WWW-Authenticate: Bearer` flow for real.

Issues RS256 JWTs carrying its self-signed certificate in `x5c`; the registry trusts that
certificate through `auth.token.rootcertbundle`. Counts requests per scope so tests can check
that tokens are cached.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ISSUER = "freightliner-test-issuer"
SERVICE = "freightliner-test-registry"


@dataclass
class TokenServer:
    user: str
    password: str
    cert_path: Path
    url: str = ""
    requests: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    refresh_token: str = field(default_factory=lambda: "refresh-" + secrets.token_hex(8))
    refresh_posts: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()


def _key_and_cert() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "freightliner-test-token")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def start_token_server(directory: Path, user: str, password: str) -> TokenServer:
    key, cert = _key_and_cert()
    cert_path = directory / "token-cert.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    server_state = TokenServer(user, password, cert_path)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            """OAuth2 `grant_type=refresh_token` (a docker config `identitytoken`)."""
            length = int(self.headers.get("Content-Length", "0") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            server_state.refresh_posts += 1
            granted = form.get("grant_type") == ["refresh_token"] and form.get("refresh_token") == [
                server_state.refresh_token
            ]
            self._answer(form.get("scope", [""])[0].split(), form.get("service", []), granted)

        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            header = self.headers.get("Authorization", "")
            expected = base64.b64encode(f"{user}:{password}".encode()).decode()
            granted = header == f"Basic {expected}"
            self._answer(query.get("scope", []), query.get("service", []), granted)

        def _answer(self, scopes: list[str], service: list[str], granted: bool) -> None:
            server_state.requests[" ".join(sorted(scopes))] += 1
            if not granted:
                server_state.refused += 1
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            access = []
            for scope in scopes:
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
            now = int(time.time())
            claims = {
                "iss": ISSUER,
                "sub": user,
                "aud": (service or [SERVICE])[0],
                "exp": now + 300,
                "nbf": now - 10,
                "iat": now,
                "jti": secrets.token_hex(8),
                "access": access,
            }
            token = jwt.encode(claims, pem, algorithm="RS256", headers={"x5c": [x5c]})
            body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server_state.url = f"http://127.0.0.1:{server.server_address[1]}"
    server_state._server = server
    return server_state
