"""`freightliner trace TARGET`: what happened to an image, a digest, a job or an event, as one
timeline from the pipeline's state table, CloudWatch Logs and (GAR side) Cloud Logging."""

from __future__ import annotations

import argparse
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from freightliner.bootstrap import cli_root
from freightliner.cli.registry_access import add_authfile_option, add_tls_options, open_clients

if TYPE_CHECKING:
    from freightliner.domain.trace import Timeline, TraceTarget

EXIT_INTERRUPTED = 130
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """`90s`, `30m`, `24h`, `7d` as seconds."""
    match = _DURATION.match(text.strip())
    if match is None or int(match[1]) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m, 24h or 7d")
    return float(int(match[1]) * _UNIT[match[2]])


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    trace = sub.add_parser(
        "trace",
        help="what happened to an image, digest, job or event: one timeline",
        description="Reads the pipeline's state table (FREIGHTLINER_TABLE) and searches the "
        "stack's CloudWatch log groups (FREIGHTLINER_LOG_GROUPS, or those of FREIGHTLINER_STACK) "
        "and, for the GAR side, Cloud Logging (FREIGHTLINER_GCP_PROJECT), then prints one "
        "timeline: event received, planned, gate verdict, each copy attempt with its error, "
        "done or failed. Ctrl-C stops the log searches and prints what they found.",
    )
    trace.add_argument(
        "target",
        help="an image (host/repository:tag or @digest), a digest or a prefix of one "
        "(6+ hex), a job id or a correlation id (an ECR event id, a Pub/Sub message id)",
    )
    trace.add_argument(
        "--by",
        choices=["image", "digest", "job", "correlation"],
        help="what TARGET is (default: guessed from its shape and the state table)",
    )
    trace.add_argument(
        "--since",
        type=duration,
        default=duration("24h"),
        metavar="DURATION",
        help="how far back to search the logs when the state table has no dates for TARGET "
        "(default 24h; e.g. 30m, 7d)",
    )
    trace.add_argument(
        "--timeout",
        type=duration,
        default=duration("120s"),
        metavar="DURATION",
        help="stop each log search after this long and show what it found (default 120s)",
    )
    trace.add_argument("--gcp-project", metavar="PROJECT", help="where the Cloud Function logs")
    trace.add_argument(
        "--no-logs", action="store_true", help="the state table only: search no logs"
    )
    trace.add_argument(
        "--creds",
        metavar="USER:PASS",
        help="credentials to resolve an image's tag (else the registries config or auth files)",
    )
    trace.add_argument(
        "--registries",
        type=Path,
        metavar="FILE",
        help="registries config (YAML), to resolve an image's tag",
    )
    trace.add_argument("--json", action="store_true", help="print one JSON document")
    add_tls_options(trace)
    add_authfile_option(trace)


def run_trace_command(args: argparse.Namespace) -> int:
    from freightliner.domain.trace import TraceKind, TraceTarget  # noqa: PLC0415
    from freightliner.engine.trace.timeline import trace  # noqa: PLC0415

    target = TraceTarget.parse(args.target, TraceKind(args.by) if args.by else None)
    if target.kind is TraceKind.IMAGE and not target.digest_prefix:
        target = _resolved(target, args)
    pipeline = cli_root.aws_pipeline()
    searches = (
        []
        if args.no_logs
        else cli_root.log_searches(pipeline, timeout=args.timeout, gcp_project=args.gcp_project)
    )
    timeline = trace(
        target, cli_root.trace_index(pipeline), searches, now=time.time(), since=args.since
    )
    if args.json:
        print(timeline.model_dump_json(indent=2))
    else:
        print(render(timeline))
    return EXIT_INTERRUPTED if timeline.interrupted else 0


def _resolved(target: TraceTarget, args: argparse.Namespace) -> TraceTarget:
    """The image's tag as the digest it names now, asked of its registry."""
    from freightliner.adapters.local.static_creds import parse_user_pass  # noqa: PLC0415
    from freightliner.domain.reference import Reference  # noqa: PLC0415

    ref = Reference.parse(target.text)
    credentials = {ref.registry: parse_user_pass(args.creds)} if args.creds else {}
    clients = open_clients(args, [(ref.registry, "")], credentials)
    try:  # the manifest's bytes hashed, as `freightliner digest` does
        found = clients.client(ref.registry).get_manifest(ref.repository, ref.identifier)
    finally:
        clients.close()
    return target.model_copy(update={"digest_prefix": str(found.digest)})


def _clock(epoch: float | None) -> str:
    if epoch is None:
        return " " * 23
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:23]


def render(timeline: Timeline) -> str:
    """The timeline as text: one line per step, its time, the time since the first step, the
    step and what it said; then what may be missing."""
    jobs = ", ".join(timeline.jobs) if timeline.jobs else "none in the state table"
    lines = [f"trace {timeline.target} ({timeline.kind}): jobs {jobs}"]
    if timeline.start is not None and timeline.end is not None:
        lines.append(f"  logs searched {_clock(timeline.start)} .. {_clock(timeline.end)} UTC")
    first = next((e.at for e in timeline.events if e.at is not None), None)
    for event in timeline.events:
        since = (
            f"+{event.at - first:9.3f}s" if event.at is not None and first is not None else " " * 11
        )
        took = f" ({event.seconds:.3f}s)" if event.seconds is not None else ""
        where = f" [{event.origin}]" if event.origin else ""
        lines.append(
            f"  {_clock(event.at)} {since} {event.stage:<8} {event.source:<13} "
            f"{event.summary}{took}{where}"
        )
    if not timeline.events:
        lines.append("  nothing found")
    if not timeline.complete:
        lines.append("partial: some steps may be missing")
    lines += [f"  note: {note}" for note in timeline.notes]
    return "\n".join(lines)
