"""Real OCI registries on loopback: Debian's `docker-registry` (CNCF distribution 2.8).

Used by the tests, `make demo` and the benchmarks. Each instance gets a free port and its own
empty storage directory, optionally htpasswd basic auth or token auth, and is torn down with
its whole process group.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

REGISTRY_BINARY = "docker-registry"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TokenAuthSettings:
    realm: str
    service: str
    issuer: str
    rootcertbundle: Path


class LocalRegistry:
    """One `docker-registry serve` process; a context manager."""

    def __init__(
        self,
        basic_auth: tuple[str, str] | None = None,
        token_auth: TokenAuthSettings | None = None,
        startup_timeout: float = 15.0,
        *,
        deletes: bool = True,
    ) -> None:
        self.basic_auth = basic_auth
        self.deletes = deletes
        self.token_auth = token_auth
        self.startup_timeout = startup_timeout
        self.port = 0
        self.workdir = Path()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def storage_dir(self) -> Path:
        return self.workdir / "storage"

    def blob_data_path(self, digest: str) -> Path:
        """Where the filesystem driver keeps a blob's bytes (for tampering tests)."""
        algorithm, hexpart = digest.split(":", 1)
        return (
            self.storage_dir
            / "docker/registry/v2/blobs"
            / algorithm
            / hexpart[:2]
            / hexpart
            / "data"
        )

    def _config(self) -> str:
        lines = [
            "version: 0.1",
            "log: {level: warn, formatter: text}",
            "storage:",
            f"  filesystem: {{rootdirectory: {self.storage_dir}}}",
            f"  delete: {{enabled: {'true' if self.deletes else 'false'}}}",
            "  maintenance: {uploadpurging: {enabled: false}}",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            "  headers: {X-Content-Type-Options: [nosniff]}",
        ]
        if self.basic_auth:
            htpasswd = self._write_htpasswd(*self.basic_auth)
            lines += ["auth:", f"  htpasswd: {{realm: freightliner-test, path: {htpasswd}}}"]
        elif self.token_auth:
            t = self.token_auth
            lines += [
                "auth:",
                "  token:",
                f"    realm: {t.realm}",
                f"    service: {t.service}",
                f"    issuer: {t.issuer}",
                f"    rootcertbundle: {t.rootcertbundle}",
            ]
        return "\n".join(lines) + "\n"

    def _write_htpasswd(self, user: str, password: str) -> Path:
        htpasswd = self.workdir / "htpasswd"
        result = subprocess.run(
            ["htpasswd", "-Bbn", user, password], capture_output=True, text=True, check=True
        )
        staged = htpasswd.with_suffix(".new")
        staged.write_text(result.stdout)
        staged.replace(htpasswd)  # atomic: the registry never reads half a file
        return htpasswd

    def rotate_password(self, password: str) -> None:
        """Replace the basic-auth password while the registry runs: distribution 2.8 reloads
        its htpasswd file when the file changes, so no restart is needed."""
        if self.basic_auth is None:
            raise RuntimeError("this registry has no basic auth")
        self.basic_auth = (self.basic_auth[0], password)
        self._write_htpasswd(*self.basic_auth)

    def start(self) -> LocalRegistry:
        binary = shutil.which(REGISTRY_BINARY)
        if binary is None:
            raise RuntimeError(
                f"{REGISTRY_BINARY} is not installed: run `make bootstrap` (Debian package "
                "docker-registry)"
            )
        self.workdir = Path(tempfile.mkdtemp(prefix="freightliner-registry-"))
        self.storage_dir.mkdir()
        last_error = ""
        for _ in range(5):  # a free port can be taken between probing and binding
            self.port = free_port()
            config = self.workdir / "config.yml"
            config.write_text(self._config())
            log = (self.workdir / "registry.log").open("wb")
            self._process = subprocess.Popen(
                [binary, "serve", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
            )
            log.close()
            if self._wait_ready():
                return self
            last_error = self.log_tail()
            self._kill()
        self.stop()
        raise RuntimeError(f"docker-registry did not start: {last_error}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/v2/", timeout=1.0).status_code in (200, 401):
                    return True
            time.sleep(0.02)
        return False

    def cpu_seconds(self) -> float:
        """User + system CPU the registry process has used (benchmarks report it)."""
        if self._process is None:
            return 0.0
        stat = Path(f"/proc/{self._process.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 20) -> str:
        path = self.workdir / "registry.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def stop(self) -> None:
        self._kill()
        if self.workdir != Path() and self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
