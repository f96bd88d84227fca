"""skopeo as the independent client that checks what freightliner wrote."""

from __future__ import annotations

import hashlib
import json
import subprocess
from typing import Any


def _tls_flags(prefix: str = "") -> list[str]:
    return [f"--{prefix}tls-verify=false"]


def skopeo_inspect_raw(ref: str, creds: tuple[str, str] | None = None) -> bytes:
    command = ["skopeo", "inspect", "--raw", *_tls_flags(), f"docker://{ref}"]
    if creds:
        command[3:3] = ["--creds", f"{creds[0]}:{creds[1]}"]
    return subprocess.run(command, capture_output=True, check=True, timeout=120).stdout


def skopeo_digest(ref: str, creds: tuple[str, str] | None = None) -> str:
    return "sha256:" + hashlib.sha256(skopeo_inspect_raw(ref, creds)).hexdigest()


def skopeo_manifest(ref: str, creds: tuple[str, str] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(skopeo_inspect_raw(ref, creds))
    return doc


def skopeo_copy(
    src: str,
    dst: str,
    *,
    all_images: bool = True,
    dest_creds: tuple[str, str] | None = None,
) -> None:
    command = ["skopeo", "copy", "--quiet", "--preserve-digests"]
    command += [*_tls_flags("src-"), *_tls_flags("dest-")]
    if all_images:
        command.append("--all")
    if dest_creds:
        command += ["--dest-creds", f"{dest_creds[0]}:{dest_creds[1]}"]
    command += [f"docker://{src}", f"docker://{dst}"]
    subprocess.run(command, capture_output=True, check=True, timeout=600)
