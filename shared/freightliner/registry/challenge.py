"""Parsing `WWW-Authenticate` challenges and deriving token scopes from request paths."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

_PARAM_RE = re.compile(r'([A-Za-z0-9_-]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')
_PATH_RE = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags|referrers)(?:/|$)")


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # "basic" or "bearer", lowercased
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {
        key.lower(): (quoted.replace('\\"', '"') if quoted is not None else bare)
        for key, quoted, bare in _PARAM_RE.findall(rest)
    }
    return Challenge(scheme.lower(), params)


def scopes_for(method: str, path: str, mount_from: str | None) -> tuple[str, ...]:
    """The token scopes a request needs: pull for reads, pull+push for writes."""
    match = _PATH_RE.match(unquote(path))
    if not match:
        return ("registry:catalog:*",) if path.startswith("/v2/_catalog") else ()
    name = match["name"]
    actions = "pull" if method in ("GET", "HEAD") else "pull,push"
    if method == "DELETE":
        actions = "delete"
    scopes = [f"repository:{name}:{actions}"]
    if mount_from:
        scopes.append(f"repository:{mount_from}:pull")
    return tuple(scopes)
