"""`freightliner`: the command line over the same engine the serverless functions use."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freightliner.bootstrap import cli_root
from freightliner.cli.completion import add_parser as add_completion_parser
from freightliner.cli.completion import run_completion_command
from freightliner.cli.compression_options import (
    add_compress_options,
    compression_line,
    compression_option,
)
from freightliner.cli.events_commands import add_parser as add_events_parser
from freightliner.cli.events_commands import run_events_command
from freightliner.cli.local import DEFAULT_DIR, invoke, local_down, local_up
from freightliner.cli.log_setup import add_logging_options, configure_logging, end_logging
from freightliner.cli.manifest_commands import (
    add_digest_parser,
    add_inspect_options,
    run_digest_command,
    run_manifest_view,
)
from freightliner.cli.metadata_commands import add_parsers as add_metadata_parsers
from freightliner.cli.metadata_commands import (
    run_ls_command,
    run_refresh_command,
    run_tags_command,
)
from freightliner.cli.progress import ConsoleProgress, human_bytes
from freightliner.cli.registry_access import (
    add_authfile_option,
    add_tls_options,
    credential_hint,
    open_clients,
)
from freightliner.cli.secrets_commands import add_parser as add_secrets_parser
from freightliner.cli.secrets_commands import run_secrets_command
from freightliner.cli.sync_commands import add_parsers as add_sync_parsers
from freightliner.cli.sync_commands import (
    run_jobs_command,
    run_sync_command,
    run_tree_command,
    verify_options,
)
from freightliner.cli.trace_command import add_parser as add_trace_parser
from freightliner.cli.trace_command import run_trace_command
from freightliner.cli.version import VersionFlag, run_version_command
from freightliner.cli.version import add_parser as add_version_parser
from freightliner.domain.errors import FreightlinerError, InvalidInput

if TYPE_CHECKING:
    from freightliner.engine.copying.models import CopyReport
    from freightliner.ports.credentials import Credential

# Commands import the models and clients they use when they run: `--help` and argument
# errors answer before pydantic builds a model (a quarter of a second).
ENV_SRC_CREDS = "FREIGHTLINER_SRC_CREDS"
ENV_DEST_CREDS = "FREIGHTLINER_DEST_CREDS"
EXIT_UNEXPECTED = 70


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="freightliner",
        description="Replicate container images between ECR, Artifact Registry and any OCI "
        "registry.",
    )
    add_logging_options(parser)
    parser.add_argument("--version", action=VersionFlag, help="print the version")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--registries",
            type=Path,
            metavar="FILE",
            help="registries config (YAML): endpoints, TLS and auth per host",
        )
        p.add_argument("--json", action="store_true", help="print one JSON document")

    copy = sub.add_parser("copy", help="copy an image (every platform by default)")
    copy.add_argument("source", help="host/repository[:tag][@digest]")
    copy.add_argument("destination", help="host/repository[:tag]")
    copy.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="OS/ARCH[/VARIANT]",
        help="copy only these platforms of an index (changes its digest)",
    )
    copy.add_argument(
        "--referrers", action="store_true", help="also copy signatures, SBOMs and attestations"
    )
    copy.add_argument(
        "--jobs", type=int, default=8, metavar="N", help="blobs copied at once (default 8)"
    )
    copy.add_argument(
        "--src-creds", metavar="USER:PASS", help=f"source credentials (or ${ENV_SRC_CREDS})"
    )
    copy.add_argument(
        "--dest-creds", metavar="USER:PASS", help=f"destination credentials (or ${ENV_DEST_CREDS})"
    )
    copy.add_argument("--dry-run", action="store_true", help="show what would be copied")
    verify_options(copy)
    add_tls_options(copy, "src")
    add_tls_options(copy, "dest")
    add_authfile_option(copy)
    common(add_compress_options(copy))

    inspect = sub.add_parser(
        "inspect",
        help="media type, digest, platforms and size (--raw: the manifest, "
        "--config: the config blob)",
    )
    inspect.add_argument("reference", help="host/repository[:tag][@digest]")
    inspect.add_argument(
        "--creds",
        metavar="USER:PASS",
        help="credentials for this registry (else the registries config or auth files)",
    )
    common(inspect)
    add_tls_options(inspect)
    add_authfile_option(inspect)
    add_inspect_options(inspect)
    add_digest_parser(sub)

    add_metadata_parsers(sub)
    add_sync_parsers(sub)
    add_secrets_parser(sub)
    add_events_parser(sub)
    add_trace_parser(sub)
    add_version_parser(sub)
    add_completion_parser(sub)

    local = sub.add_parser("local", help="the pipeline on this machine (moto + local registries)")
    local_actions = local.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = local_actions.add_parser("up", help="start moto and the local registries")
    up.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state directory")
    up.add_argument("--detach", action="store_true", help="run in the background")
    down = local_actions.add_parser("down", help="stop what `local up --detach` started")
    down.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state directory")

    invoke = sub.add_parser("invoke", help="run a function's handler once with an event file")
    invoke.add_argument("function", help="on_ecr_push, on_gar_push, replicate, replicate_now, ...")
    invoke.add_argument("event", type=Path, help="an event file, e.g. events/ecr-push.json")
    invoke.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="`local up` state directory")
    return parser


def _run_local(args: argparse.Namespace) -> int:
    if args.action == "up":
        return local_up(args.dir, args.detach)
    return local_down(args.dir)


def _run_invoke(args: argparse.Namespace) -> int:
    return invoke(args.function, args.event, args.dir)


def _creds(host: str, value: str | None, env: str | None = None) -> dict[str, Credential]:
    from freightliner.adapters.local.static_creds import parse_user_pass  # noqa: PLC0415

    text = value or (os.environ.get(env) if env else None)
    return {host: parse_user_pass(text)} if text else {}


def _print_copy(report: CopyReport) -> None:
    print(f"{report.status}: {report.source} -> {report.destination}")
    print(
        f"  digest      {report.digest}"
        + (f" (changed from {report.source_digest})" if report.digest_changed else " (unchanged)")
    )
    print(f"  media type  {report.media_type}")
    print(f"  manifests   {report.manifests_pushed} pushed, {report.manifests_skipped} present")
    print(
        f"  blobs       {report.blobs_copied} copied, {report.blobs_mounted} mounted, "
        f"{report.blobs_skipped} present"
    )
    if report.status == "planned":
        print(f"  bytes       {human_bytes(report.bytes_copied)} to copy (dry run: none moved)")
    else:
        print(f"  bytes       {human_bytes(report.bytes_copied)} in {report.seconds:.2f}s")
    if report.referrers_copied:
        print(f"  referrers   {report.referrers_copied} copied")
    if report.referrers_skipped:
        print(f"  referrers   {report.referrers_skipped} not copied (they sign the old digest)")
    if report.compress_bytes_before:
        print(f"  compression {compression_line(report)}")


def _run_copy(args: argparse.Namespace) -> int:
    from freightliner.domain.reference import Reference  # noqa: PLC0415
    from freightliner.engine.copying.models import CopyOptions  # noqa: PLC0415

    src = Reference.parse(args.source)
    dst = Reference.parse(args.destination)
    if args.jobs < 1 or args.jobs > 64:
        raise InvalidInput("--jobs must be between 1 and 64")
    options = CopyOptions(
        platforms=args.platform,
        referrers=args.referrers,
        jobs=args.jobs,
        dry_run=args.dry_run,
        verify=args.verify,
        metadata_ttl=0.0 if args.refresh else cli_root.metadata_ttl(),
        compress=compression_option(args),
    )
    credentials = {
        **_creds(src.registry, args.src_creds, ENV_SRC_CREDS),
        **_creds(dst.registry, args.dest_creds, ENV_DEST_CREDS),
    }
    from freightliner.engine.copying.copy import Copier  # noqa: PLC0415 - loads httpx: not for --help

    clients = open_clients(args, [(src.registry, "src"), (dst.registry, "dest")], credentials)
    metadata = cli_root.metadata_cache()  # blob locations from earlier runs: mounts
    try:
        quiet = args.json or args.dry_run  # a dry run moves nothing: no bar to show
        with (
            contextlib.nullcontext(None) if quiet else ConsoleProgress() as progress,
            Copier(clients, options, progress, metadata=metadata) as copier,
        ):
            report = copier.copy(src, dst)
    finally:
        clients.close()
        if metadata is not None:
            metadata.close()
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        _print_copy(report)
    return 0


def _run_inspect(args: argparse.Namespace) -> int:
    if args.raw or args.config or args.platform:
        return run_manifest_view(args)
    from freightliner.domain.reference import Reference  # noqa: PLC0415
    from freightliner.engine.copying.inspect import inspect_image  # noqa: PLC0415 - loads httpx

    ref = Reference.parse(args.reference)
    clients = open_clients(args, [(ref.registry, "")], _creds(ref.registry, args.creds))
    try:
        summary = inspect_image(clients.client(ref.registry), ref)
    finally:
        clients.close()
    if args.json:
        print(summary.model_dump_json(indent=2))
        return 0
    print(
        f"{summary.reference}\n  media type  {summary.media_type}\n"
        f"  digest      {summary.digest}\n  size        {human_bytes(summary.size)}"
    )
    for platform in summary.platforms:
        print(f"  {platform.platform:<16} {platform.digest} {human_bytes(platform.size)}")
    return 0


def _one_line(text: str) -> str:
    """Control characters a document or argument carried into a message, escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _no_nul(args: argparse.Namespace) -> None:
    """A NUL cannot reach a real command line; called in-process, it is bad input too."""
    for name, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str | Path) and "\x00" in str(v) for v in values):
            raise InvalidInput(f"--{name.replace('_', '-')}: NUL characters are not allowed")


COMMANDS: dict[str, Any] = {
    "copy": _run_copy,
    "inspect": _run_inspect,
    "tags": run_tags_command,
    "ls": run_ls_command,
    "refresh": run_refresh_command,
    "sync": run_sync_command,
    "jobs": run_jobs_command,
    "tree": run_tree_command,
    "secrets": run_secrets_command,
    "events": run_events_command,
    "trace": run_trace_command,
    "local": _run_local,
    "invoke": _run_invoke,
    "digest": run_digest_command,
    "version": run_version_command,
    "completion": run_completion_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_format, args.verbose)
    try:
        return _run(args)
    finally:
        end_logging()


def _run(args: argparse.Namespace) -> int:
    try:
        _no_nul(args)
        return int(COMMANDS[args.command](args))
    except FreightlinerError as exc:
        if getattr(args, "json", False):
            print(json.dumps(exc.to_dict(), indent=2))
        print(f"freightliner: {exc.kind}: {_one_line(str(exc))}", file=sys.stderr)
        hint = credential_hint(args, exc)
        if hint:
            print(f"freightliner: {_one_line(hint)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("freightliner: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one-line reason; a traceback only with --verbose
        logging.getLogger(__name__).debug("unexpected failure", exc_info=True)
        reason = _one_line(f"{type(exc).__name__}: {exc}")
        print(f"freightliner: unexpected error: {reason}", file=sys.stderr)
        return EXIT_UNEXPECTED


if __name__ == "__main__":
    sys.exit(main())
