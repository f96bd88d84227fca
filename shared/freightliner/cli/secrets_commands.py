"""`freightliner secrets put|get|delete|list` on AWS Secrets Manager or GCP Secret Manager.

Values are read from a file or standard input, never from the command line (where `ps` and
shell history would keep them), and printed only by `get --reveal`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import TYPE_CHECKING

from freightliner.bootstrap import cli_root
from freightliner.domain.errors import InvalidInput

if TYPE_CHECKING:
    from freightliner.ports.secrets import SecretStore

STORES = ("aws", "gcp")  # StoreKind's values, without loading its models for `--help`


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    secrets = sub.add_parser("secrets", help="manage registry credentials in a secret store")
    actions = secrets.add_subparsers(dest="action", required=True)

    def store_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--store",
            choices=STORES,
            default="aws",
            help="AWS Secrets Manager or GCP Secret Manager (default aws)",
        )
        p.add_argument("--region", help="AWS region (default: AWS_REGION)")
        p.add_argument("--project", help="GCP project (default: GOOGLE_CLOUD_PROJECT)")
        p.add_argument("--json", action="store_true", help="print one JSON document")

    put = actions.add_parser("put", help="create a secret or add a new version")
    put.add_argument("name", help="the secret's name")
    source = put.add_mutually_exclusive_group(required=True)
    source.add_argument("--value-file", metavar="FILE", help="the value, as text")
    source.add_argument("--json-file", metavar="FILE", help="a JSON value, checked first")
    source.add_argument("--stdin", action="store_true", help="read the value from stdin")
    store_options(put)

    get = actions.add_parser("get", help="show a secret (its value only with --reveal)")
    get.add_argument("name", help="the secret's name")
    get.add_argument("--version", help="AWS version id or GCP version number")
    get.add_argument("--stage", help="AWS staging label (AWSCURRENT, AWSPREVIOUS, ...)")
    get.add_argument("--reveal", action="store_true", help="print the value itself")
    store_options(get)

    delete = actions.add_parser("delete", help="delete a secret (AWS: after a recovery window)")
    delete.add_argument("name", help="the secret's name")
    delete.add_argument(
        "--force", action="store_true", help="AWS: no recovery window; GCP: delete the secret"
    )
    delete.add_argument("--version", help="GCP: destroy only this version")
    delete.add_argument(
        "--recovery-days", type=int, default=30, metavar="N", help="AWS: 7-30 (default 30)"
    )
    store_options(delete)

    listing = actions.add_parser("list", help="list secrets (names and dates, no values)")
    store_options(listing)


def _store(args: argparse.Namespace) -> SecretStore:
    from freightliner.domain.secrets import StoreKind  # noqa: PLC0415

    kind = StoreKind(args.store)
    if kind is StoreKind.GCP:
        location = args.project or os.environ.get("GOOGLE_CLOUD_PROJECT")
        if not location:
            raise InvalidInput("--store gcp needs --project (or GOOGLE_CLOUD_PROJECT)")
    else:
        location = args.region
    return cli_root.secret_store(kind, location)


def _read_value(args: argparse.Namespace) -> str:
    if args.stdin:
        return sys.stdin.read()
    path = args.value_file or args.json_file
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text") from None


def _print(document: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(document, indent=2, default=str))
    else:
        print("\n".join(f"{key:<18} {value}" for key, value in document.items() if value))


def run_secrets_command(args: argparse.Namespace) -> int:
    from freightliner.engine.secrets import (  # noqa: PLC0415
        audit_log,
        delete_secret,
        put_json_secret,
        put_secret,
    )

    audit_log.setLevel(logging.INFO)  # audit events are shown whatever the verbosity
    store = _store(args)
    if args.action == "put":
        text = _read_value(args)
        put = put_json_secret if args.json_file else put_secret
        written = put(store, args.name, text)
        _print({"stored": written.name, **written.model_dump(exclude={"name"})}, args.json)
    elif args.action == "get":
        value = store.get(args.name, version=args.version, stage=args.stage)
        if args.reveal and not args.json:
            sys.stdout.write(value.value.get_secret_value())
            return 0
        shown = value.value.get_secret_value() if args.reveal else str(value.value)
        _print({**value.model_dump(exclude={"value"}), "value": shown}, args.json)
    elif args.action == "delete":
        deleted = delete_secret(
            store,
            args.name,
            force=args.force,
            version=args.version,
            recovery_days=args.recovery_days,
        )
        _print({"deleted": deleted.name, **deleted.model_dump(exclude={"name"})}, args.json)
    else:
        summaries = [s.model_dump(mode="json") for s in store.list()]
        if args.json:
            print(json.dumps(summaries, indent=2))
        else:
            for summary in summaries:
                pending = (
                    f"  (deleted on {summary['deletion_date']})" if summary["deletion_date"] else ""
                )
                print(f"{summary['name']:<40} {summary['created'] or ''}{pending}")
    return 0
