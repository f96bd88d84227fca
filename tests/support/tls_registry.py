"""docker-registry serving HTTPS with a self-signed certificate: what `--tls-verify=false`
(skopeo's spelling for "TLS, but do not check the certificate") is for."""

from __future__ import annotations

import contextlib
import time

import httpx
from cryptography.hazmat.primitives import serialization

from freightliner.harness.registry import LocalRegistry
from tests.support.token_server import _key_and_cert


class TlsRegistry(LocalRegistry):
    @property
    def url(self) -> str:
        return f"https://{self.host}"

    def _config(self) -> str:
        key, cert = _key_and_cert()
        key_path, cert_path = self.workdir / "tls.key", self.workdir / "tls.crt"
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        tls = f"  tls: {{certificate: {cert_path}, key: {key_path}}}\n  headers:"
        return super()._config().replace("  headers:", tls, 1)

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                reply = httpx.get(f"{self.url}/v2/", timeout=1.0, verify=False)
                if reply.status_code in (200, 401):
                    return True
            time.sleep(0.05)
        return False
