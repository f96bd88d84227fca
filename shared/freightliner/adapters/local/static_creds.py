"""Credentials that need no cloud: given on the command line or in `~/.docker/config.json`
(including its credential helpers). Environment variables and files are credential references
(`env://`, `file://`, see `credential_refs`)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from freightliner.domain.errors import InvalidInput
from freightliner.domain.secrets import Redacted
from freightliner.ports.credentials import Credential, CredentialProvider

log = logging.getLogger(__name__)
_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io")


def parse_user_pass(text: str) -> Credential:
    """`user:pass` → Credential; the error never repeats the text (it holds a password)."""
    username, sep, password = text.partition(":")
    if not sep or not username:
        raise InvalidInput("credentials must be given as USER:PASSWORD")
    return Credential(username=username, password=Redacted(password))


class AnonymousProvider:
    def get(self, registry: str) -> Credential | None:
        return None

    def invalidate(self, registry: str) -> None:
        return None


class StaticCredentialProvider:
    def __init__(self, credentials: Mapping[str, Credential]) -> None:
        self._credentials = dict(credentials)

    def get(self, registry: str) -> Credential | None:
        return self._credentials.get(registry)

    def invalidate(self, registry: str) -> None:
        return None  # nothing to refresh: the same credentials are all we have


ENV_REGISTRY_AUTH_FILE = "REGISTRY_AUTH_FILE"


def _docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def auth_file_locations(auth_file: Path | None = None) -> list[Path]:
    """Where credentials are looked up, in order, as podman and skopeo do: the file given
    (`--authfile`), else `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`,
    `~/.config/containers/auth.json` and the docker config (`$DOCKER_CONFIG/config.json` or
    `~/.docker/config.json`); the first file with an entry for the registry wins."""
    if auth_file is not None:
        return [auth_file]
    if os.environ.get(ENV_REGISTRY_AUTH_FILE):
        return [Path(os.environ[ENV_REGISTRY_AUTH_FILE])]
    found: list[Path] = []
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        found.append(Path(runtime) / "containers" / "auth.json")
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    found.append(Path(config_home) / "containers" / "auth.json")
    found.append(_docker_config_path())
    return found


class DockerConfigCredentialProvider:
    """Reads `auths`, `credHelpers` and `credsStore` the way the docker CLI (and podman's
    `auth.json`) writes them, from the files `auth_file_locations` names."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self.source: Path | None = None
        """The file the last credentials found came from (for error messages)."""

    def _load(self, path: Path) -> dict[str, object]:
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot read auth file {path}: {exc}") from None
        return raw if isinstance(raw, dict) else {}

    def get(self, registry: str) -> Credential | None:
        for path in auth_file_locations(self._path):
            found = self._lookup(self._load(path), registry)
            if found is not None:
                self.source = path
                return found
        self.source = None
        return None

    def _lookup(self, config: dict[str, object], registry: str) -> Credential | None:
        keys = [registry, f"https://{registry}", f"http://{registry}"]
        if registry == "docker.io":
            keys += list(_HUB_KEYS)
        helpers = config.get("credHelpers")
        if isinstance(helpers, dict):
            for key in keys:
                if isinstance(helpers.get(key), str):
                    return _from_helper(str(helpers[key]), key)
        auths = config.get("auths")
        if isinstance(auths, dict):
            for key in keys:
                entry = auths.get(key) or auths.get(key + "/")
                if isinstance(entry, dict):
                    found = _from_auth_entry(entry, registry)
                    if found:
                        return found
        store = config.get("credsStore")
        if isinstance(store, str) and store:
            return _from_helper(store, keys[-1] if registry == "docker.io" else registry)
        return None

    def invalidate(self, registry: str) -> None:
        return None  # the file is re-read on every get()


def _from_auth_entry(entry: dict[str, object], registry: str) -> Credential | None:
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        # `docker login` with a refresh token: `auth` holds the user name with no password.
        name = "<token>"
        named = entry.get("auth")
        if isinstance(named, str) and named:
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                name = base64.b64decode(named).decode().partition(":")[0] or name
        return Credential(username=name, password=Redacted(""), identity_token=Redacted(token))
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidInput(
                f"docker config: the auth entry for {registry} is not base64"
            ) from None
        return parse_user_pass(decoded)
    username, password = entry.get("username"), entry.get("password")
    if isinstance(username, str) and isinstance(password, str):
        return Credential(username=username, password=Redacted(password))
    return None


def _from_helper(helper: str, server: str) -> Credential | None:
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        log.debug("credential helper docker-credential-%s not installed; skipping", helper)
        return None
    result = subprocess.run(
        [program, "get"], input=server, capture_output=True, text=True, timeout=30, check=False
    )
    if result.returncode != 0:
        log.debug("docker-credential-%s has no credentials for %s", helper, server)
        return None
    try:
        body = json.loads(result.stdout)
        return Credential(username=body["Username"], password=Redacted(body["Secret"]))
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"docker-credential-{helper} answered in an unknown format") from None


class ChainCredentialProvider:
    """The first provider with credentials for a registry wins."""

    def __init__(self, providers: Sequence[CredentialProvider]) -> None:
        self._providers = list(providers)

    def get(self, registry: str) -> Credential | None:
        for provider in self._providers:
            found = provider.get(registry)
            if found is not None:
                return found
        return None

    def invalidate(self, registry: str) -> None:
        for provider in self._providers:
            provider.invalidate(registry)
