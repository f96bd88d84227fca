"""`inspect --raw`, `inspect --config` and `digest`: the bytes a registry serves, as crane
and skopeo print them (for piping into jq or a digest check)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from freightliner.cli.registry_access import add_authfile_option, add_tls_options, open_clients
from freightliner.domain.errors import InvalidInput

if TYPE_CHECKING:
    from freightliner.ports.credentials import Credential

DEFAULT_PLATFORM = "linux/amd64"


def add_inspect_options(inspect: argparse.ArgumentParser) -> None:
    shown = inspect.add_mutually_exclusive_group()
    shown.add_argument(
        "--raw",
        action="store_true",
        help="print the manifest (or index) bytes exactly as the registry serves them",
    )
    shown.add_argument(
        "--config",
        action="store_true",
        help="print the image's config blob (for an index: the --platform image's)",
    )
    inspect.add_argument(
        "--platform",
        metavar="OS/ARCH[/VARIANT]",
        help=f"with --raw or --config: that platform's image of an index "
        f"(--config default {DEFAULT_PLATFORM})",
    )


def _credentials(host: str, creds: str | None) -> dict[str, Credential]:
    from freightliner.adapters.local.static_creds import parse_user_pass  # noqa: PLC0415

    return {host: parse_user_pass(creds)} if creds else {}


def add_digest_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    digest = sub.add_parser(
        "digest",
        help="print the digest a reference resolves to (verified against the manifest bytes)",
        description="Print the digest of the manifest a tag (or digest) names, like "
        "`crane digest`: the manifest is fetched and its bytes hashed, not taken from a header.",
    )
    digest.add_argument("reference", help="host/repository[:tag][@digest]")
    digest.add_argument(
        "--creds",
        metavar="USER:PASS",
        help="credentials for this registry (else the registries config or auth files)",
    )
    digest.add_argument(
        "--registries",
        type=Path,
        metavar="FILE",
        help="registries config (YAML): endpoints, TLS and auth per host",
    )
    digest.add_argument("--json", action="store_true", help="print one JSON document")
    add_tls_options(digest)
    add_authfile_option(digest)


def print_bytes(data: bytes) -> None:
    """Write bytes to stdout untouched (no re-encoding, no newline added)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def run_manifest_view(args: argparse.Namespace) -> int:
    """`inspect --raw` / `inspect --config`."""
    from freightliner.domain.platform import Platform  # noqa: PLC0415
    from freightliner.domain.reference import Reference  # noqa: PLC0415
    from freightliner.engine.copying.inspect import config_blob, resolve_platform  # noqa: PLC0415

    if not (args.raw or args.config):
        raise InvalidInput("--platform goes with --raw or --config")
    if args.json:
        raise InvalidInput("--raw and --config print the registry's JSON as is: drop --json")
    ref = Reference.parse(args.reference)
    platform = Platform.parse(args.platform or DEFAULT_PLATFORM)
    clients = open_clients(args, [(ref.registry, "")], _credentials(ref.registry, args.creds))
    try:
        client = clients.client(ref.registry)
        if args.config:
            data = config_blob(client, ref, platform)
        elif args.platform:
            data = resolve_platform(client, ref, platform).data
        else:
            data = client.get_manifest(ref.repository, ref.identifier).data
    finally:
        clients.close()
    print_bytes(data)
    return 0


def run_digest_command(args: argparse.Namespace) -> int:
    from freightliner.domain.reference import Reference  # noqa: PLC0415

    ref = Reference.parse(args.reference)
    clients = open_clients(args, [(ref.registry, "")], _credentials(ref.registry, args.creds))
    try:
        fetched = clients.client(ref.registry).get_manifest(ref.repository, ref.identifier)
    finally:
        clients.close()
    if args.json:
        import json  # noqa: PLC0415

        print(json.dumps({"reference": str(ref), "digest": str(fetched.digest)}, indent=2))
    else:
        print(fetched.digest)
    return 0
