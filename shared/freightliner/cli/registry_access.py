"""How the command line reaches registries: per-side TLS flags, `--authfile`, credentials,
and what an authentication failure says about where credentials were looked up.

The flags follow skopeo: `--src-tls-verify=false` / `--dest-tls-verify=false` (or `--insecure`
on one-registry commands) keep TLS but skip certificate checks; `--src-plain-http` /
`--dest-plain-http` (or `--plain-http`) speak HTTP. They override the registries config for
the host they name.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from freightliner.domain.errors import Forbidden, FreightlinerError, InvalidInput, Unauthorized

if TYPE_CHECKING:
    from freightliner.bootstrap.registry_clients import RegistryClients
    from freightliner.domain.registries import TlsMode
    from freightliner.ports.credentials import Credential

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _boolean(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def add_tls_options(parser: argparse.ArgumentParser, side: str = "") -> None:
    """`--{side}-tls-verify=BOOL` and `--{side}-plain-http` (no side: one registry, with
    `--insecure` as the short form of `--tls-verify=false`)."""
    prefix = f"{side}-" if side else ""
    whose = f"the {'source' if side == 'src' else 'destination'} registry" if side else "it"
    parser.add_argument(
        f"--{prefix}tls-verify",
        type=_boolean,
        default=None,
        metavar="BOOL",
        help=f"verify {whose}'s TLS certificate (default true; false: TLS without checks)",
    )
    parser.add_argument(
        f"--{prefix}plain-http",
        action="store_true",
        help=f"talk to {whose} over plain HTTP (default: HTTPS except on loopback)",
    )
    if not side:
        parser.add_argument(
            "--insecure",
            action="store_true",
            help="TLS without certificate verification (same as --tls-verify=false)",
        )


def add_authfile_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--authfile",
        type=Path,
        metavar="FILE",
        help="auth file (docker config.json or podman auth.json) instead of $REGISTRY_AUTH_FILE, "
        "$XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, "
        "~/.docker/config.json",
    )


def tls_mode(args: argparse.Namespace, side: str = "") -> TlsMode | None:
    """The TLS mode the flags of one side ask for, or None (the registries config decides)."""
    from freightliner.domain.registries import TlsMode  # noqa: PLC0415 - keeps --help fast

    prefix = f"{side}_" if side else ""
    verify: bool | None = getattr(args, f"{prefix}tls_verify", None)
    if not side and getattr(args, "insecure", False):
        if verify is True:
            raise InvalidInput("--insecure contradicts --tls-verify=true")
        verify = False
    plain = bool(getattr(args, f"{prefix}plain_http", False))
    if plain and verify is not None:
        flag = f"--{side + '-' if side else ''}"
        raise InvalidInput(f"{flag}plain-http has no TLS to verify: drop {flag}tls-verify")
    if plain:
        return TlsMode.PLAIN_HTTP
    if verify is None:
        return None
    return TlsMode.VERIFY if verify else TlsMode.INSECURE


def tls_modes(args: argparse.Namespace, sides: list[tuple[str, str]]) -> dict[str, TlsMode]:
    """host -> mode for the sides named (`[("ghcr.io", "src"), ("127.0.0.1:5000", "dest")]`);
    one host named on both sides with different modes is refused."""
    modes: dict[str, TlsMode] = {}
    for host, side in sides:
        mode = tls_mode(args, side)
        if mode is None:
            continue
        if modes.get(host, mode) is not mode:
            raise InvalidInput(f"{host} is both source and destination with different TLS flags")
        modes[host] = mode
    return modes


def open_clients(
    args: argparse.Namespace,
    sides: list[tuple[str, str]],
    credentials: dict[str, Credential] | None = None,
) -> RegistryClients:
    """The registry clients a command uses: registries config, its TLS flags, auth file,
    creds."""
    from freightliner.bootstrap import cli_root  # noqa: PLC0415 - keeps --help fast

    return cli_root.registry_clients(
        getattr(args, "registries", None),
        credentials,
        tls=tls_modes(args, sides),
        auth_file=getattr(args, "authfile", None),
    )


def _host_of(text: str | None) -> str | None:
    from freightliner.domain.reference import Reference  # noqa: PLC0415

    try:
        return Reference.parse(text).registry if text else None
    except InvalidInput:
        return None


def _flag_for(args: argparse.Namespace, host: str) -> str | None:
    sides = (
        ("src", "FREIGHTLINER_SRC_CREDS", getattr(args, "source", None)),
        ("dest", "FREIGHTLINER_DEST_CREDS", getattr(args, "destination", None)),
    )
    for side, env, reference in sides:
        if _host_of(reference) == host:
            if getattr(args, f"{side}_creds", None):
                return f"--{side}-creds"
            if os.environ.get(env):
                return f"${env}"
    if getattr(args, "creds", None):
        return "--creds"
    return None


def credential_hint(args: argparse.Namespace, error: FreightlinerError) -> str | None:
    """For a refused request: which credential source was used for the registry (or that
    none was found) and where credentials are looked up."""
    if not isinstance(error, Unauthorized | Forbidden) or not error.where.registry:
        return None
    from freightliner.adapters.local.static_creds import (  # noqa: PLC0415
        DockerConfigCredentialProvider,
        auth_file_locations,
    )
    from freightliner.domain.registries import AuthKind, Registries  # noqa: PLC0415

    host = error.where.registry
    looked = ", ".join(str(p) for p in auth_file_locations(getattr(args, "authfile", None)))
    where = (
        f"credentials are looked up in: --creds/--src-creds/--dest-creds, the registries "
        f"config's auth for the host, then the auth files {looked}"
    )
    flag = _flag_for(args, host)
    if flag:
        return f"{host}: the credentials given by {flag} were refused ({where})"
    try:
        registries = Registries.load(getattr(args, "registries", None))
    except InvalidInput:
        registries = Registries()
    kind = registries.auth_kind(host)
    if kind is AuthKind.ECR:
        return f"{host}: the ECR token from the AWS credential chain was refused"
    if kind is AuthKind.GAR:
        return f"{host}: the Google credentials (application default or key) were refused"
    if kind is AuthKind.BASIC:
        return f"{host}: the registries config's basic credentials were refused"
    provider = DockerConfigCredentialProvider(getattr(args, "authfile", None))
    try:
        found = provider.get(host)
    except InvalidInput as exc:
        return f"{host}: {exc} ({where})"
    if found is not None and provider.source is not None:
        return f"{host}: the credentials for it in {provider.source} were refused ({where})"
    return f"{host}: no credentials found for it, the request went anonymous ({where})"
