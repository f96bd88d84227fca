"""`freightliner tags`, `ls` and `refresh`: a repository's tags, and its metadata (digest,
media type, platforms, size, push time per tag) from the metadata cache within its TTL, or
listed again (`--refresh`, `refresh tags|images`)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from freightliner.bootstrap import cli_root
from freightliner.cli.progress import human_bytes
from freightliner.cli.registry_access import add_authfile_option, add_tls_options, open_clients
from freightliner.domain.errors import InvalidInput

if TYPE_CHECKING:
    from freightliner.domain.metadata import ListingDepth, RepositoryListing
    from freightliner.domain.reference import Reference
    from freightliner.ports.credentials import Credential


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def repository(p: argparse.ArgumentParser) -> None:
        p.add_argument("repository", help="host/repository")
        p.add_argument(
            "--creds",
            metavar="USER:PASS",
            help="credentials for this registry (else the registries config or auth files)",
        )
        p.add_argument(
            "--registries",
            type=Path,
            metavar="FILE",
            help="registries config (YAML): endpoints, TLS and auth per host",
        )
        p.add_argument("--json", action="store_true", help="print one JSON document")
        add_tls_options(p)
        add_authfile_option(p)

    repository(sub.add_parser("tags", help="list a repository's tags"))
    ls = sub.add_parser(
        "ls",
        help="every tag of a repository with digest, media type, platforms, size and push "
        "time (from the metadata cache within FREIGHTLINER_METADATA_TTL)",
    )
    repository(ls)
    ls.add_argument("--refresh", action="store_true", help="list again, ignoring the cache")
    refresh = sub.add_parser("refresh", help="list a repository again into the metadata cache")
    refresh.add_argument(
        "what",
        choices=["tags", "images"],
        help="tags: tags and digests; images: also media types, platforms, sizes, push times",
    )
    repository(refresh)


def _repository(text: str) -> Reference:
    from freightliner.domain.reference import Reference  # noqa: PLC0415

    ref = Reference.parse(text)
    if ref.tag or ref.digest:
        raise InvalidInput(f"give a repository without tag or digest, not {text!r}")
    return ref


def _creds(host: str, value: str | None) -> dict[str, Credential]:
    from freightliner.adapters.local.static_creds import parse_user_pass  # noqa: PLC0415

    return {host: parse_user_pass(value)} if value else {}


def run_tags_command(args: argparse.Namespace) -> int:
    ref = _repository(args.repository)
    clients = open_clients(args, [(ref.registry, "")], _creds(ref.registry, args.creds))
    try:
        tags = list(clients.client(ref.registry).list_tags(ref.repository))
    finally:
        clients.close()
    if args.json:
        print(json.dumps({"repository": ref.name, "tags": tags}, indent=2))
    else:
        print("\n".join(tags))
    return 0


def _listing(args: argparse.Namespace, depth: ListingDepth, refresh: bool) -> RepositoryListing:
    from freightliner.engine.metadata.repository import repository_listing  # noqa: PLC0415

    ref = _repository(args.repository)
    clients = open_clients(args, [(ref.registry, "")], _creds(ref.registry, args.creds))
    cache = cli_root.metadata_cache()
    try:
        return repository_listing(
            clients,
            ref.registry,
            ref.repository,
            depth=depth,
            cache=cache,
            ttl=cli_root.metadata_ttl(),
            refresh=refresh,
        )
    finally:
        clients.close()
        if cache is not None:
            cache.close()


def run_ls_command(args: argparse.Namespace) -> int:
    listing = _listing(args, "images", args.refresh)
    if args.json:
        print(listing.model_dump_json(indent=2))
        return 0
    for image in listing.images:
        pushed = image.pushed_at.strftime("%Y-%m-%d %H:%M:%S") if image.pushed_at else "-"
        size = human_bytes(image.size) if image.size is not None else "-"
        print(
            f"{image.tag:<24} {image.digest[:19]}  {image.media_type or '-'}  "
            f"{','.join(image.platforms) or '-'}  {size}  {pushed}"
        )
    return 0


def run_refresh_command(args: argparse.Namespace) -> int:
    listing = _listing(args, args.what, True)
    if args.json:
        print(listing.model_dump_json(indent=2))
    else:
        where = os.environ.get("FREIGHTLINER_METADATA_CACHE", "") or "the metadata cache"
        print(f"{listing.registry}/{listing.repository}: {len(listing.images)} tags into {where}")
    return 0
