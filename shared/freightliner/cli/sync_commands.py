"""`freightliner sync` and `freightliner jobs`: tree syncs with local checkpoints.

Every run records its job in a SQLite checkpoint file; `jobs resume JOB` (or `sync FILE
--resume JOB`) runs the job's own definition again and skips what it already finished.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from freightliner.bootstrap import cli_root
from freightliner.cli.compression_options import add_compress_options, compression_option
from freightliner.cli.progress import TreeConsoleProgress, human_bytes
from freightliner.cli.registry_access import add_authfile_option
from freightliner.domain.errors import InvalidInput

if TYPE_CHECKING:
    from freightliner.adapters.local.sqlite_checkpoints import SqliteCheckpoints
    from freightliner.cli.job_views import JobView
    from freightliner.domain.jobs import JobStatus
    from freightliner.domain.sync import SyncSpec
    from freightliner.engine.tree.local_sync import TreeReport

DEFAULT_STATE = Path(".freightliner/checkpoints.db")
JOB_STATUSES = ("ENUMERATING", "RUNNING", "COMPLETE", "COMPLETED_WITH_ERRORS")
"""`domain.jobs.JobStatus`'s values, spelled out: `--help` builds no pydantic model."""


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def state(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--state",
            type=Path,
            default=DEFAULT_STATE,
            help=f"checkpoint file (default {DEFAULT_STATE})",
        )

    sync = sub.add_parser("sync", help="copy repository trees as a sync file describes")
    sync.add_argument("file", type=Path, help="sync definition (YAML)")
    sync.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only these syncs of the file",
    )
    sync.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (what would be copied or skipped, and why)",
    )
    sync.add_argument("--resume", metavar="JOB", help="continue this job of the same definition")
    sync.add_argument(
        "--retry-failed", action="store_true", help="with --resume: run failed images again too"
    )
    registries(sync)
    verify_options(sync)
    add_compress_options(sync)
    sync.add_argument("--json", action="store_true", help="print one JSON document")
    state(sync)

    tree = sub.add_parser(
        "tree",
        help="tree syncs on the serverless pipeline: start them now, or apply the sync "
        "file's schedules (EventBridge Scheduler)",
    )
    tree_actions = tree.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = tree_actions.add_parser(
        "start", help="start the file's syncs as jobs on the pipeline's queue now"
    )
    start.add_argument("file", type=Path, help="sync definition (YAML)")
    start.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="start only these syncs of the file",
    )
    start.add_argument(
        "--verify",
        action="store_true",
        help="check every image the destination has, blob by blob, trusting no cached "
        "metadata (as `sync --verify`)",
    )
    schedule = tree_actions.add_parser(
        "schedule",
        help="make the EventBridge Scheduler group hold exactly the file's scheduled syncs",
    )
    schedule.add_argument("file", type=Path, help="sync definition (YAML)")
    schedule.set_defaults(only=[])

    jobs = sub.add_parser("jobs", help="tree-sync jobs: list, status, resume")
    job_actions = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")

    def store(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--store",
            choices=["local", "aws"],
            help="local: the checkpoint file (sync-… jobs); aws: the pipeline's DynamoDB table "
            "and queue (FREIGHTLINER_TABLE, FREIGHTLINER_QUEUE_URL). Default: by the job id",
        )
        p.add_argument("--json", action="store_true", help="print one JSON document")
        state(p)

    listing = job_actions.add_parser("list", help="list jobs")
    listing.add_argument("--status", choices=JOB_STATUSES, help="only jobs in this status")
    store(listing)
    listing.set_defaults(job=None)

    status = job_actions.add_parser("status", help="one job's counts and failures")
    status.add_argument("job", help="job id")
    store(status)

    resume = job_actions.add_parser(
        "resume", help="run a job's own definition again, skipping what it finished"
    )
    resume.add_argument("job", help="job id")
    resume.add_argument(
        "--retry-failed", action="store_true", help="run the failed images again too"
    )
    registries(resume)
    verify_options(resume)
    store(resume)


def verify_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--verify",
        action="store_true",
        help="check every image the destination has, blob by blob (uploading what is "
        "missing), trusting no cached metadata",
    )
    p.add_argument(
        "--refresh",
        action="store_true",
        help="ask the destination again instead of trusting tags the metadata cache saw "
        "verified within its TTL (FREIGHTLINER_METADATA_TTL)",
    )


def registries(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--registries",
        type=Path,
        metavar="FILE",
        help="registries config (YAML): endpoints, TLS and auth per host",
    )
    add_authfile_option(p)


def _run(
    specs: list[SyncSpec],
    args: argparse.Namespace,
    store: SqliteCheckpoints,
    resume: str | None,
) -> int:
    from freightliner.domain.jobs import ended  # noqa: PLC0415
    from freightliner.engine.tree.local_sync import Checkpoint, run_sync  # noqa: PLC0415 - loads httpx

    clients = cli_root.registry_clients(args.registries, auth_file=args.authfile)
    metadata = cli_root.metadata_cache()
    ttl = 0.0 if args.refresh else cli_root.metadata_ttl()  # --refresh: ask, and remember anew
    reports: list[TreeReport] = []
    try:
        for spec in specs:
            checkpoint = None
            if not args.dry_run:
                job_id = resume or store.create_job(spec.name, spec.model_dump_json())
                finished = store.finished(job_id, args.retry_failed) if resume else set()
                checkpoint = Checkpoint(job_id, store, frozenset(finished))
            with TreeConsoleProgress(dry_run=args.dry_run) as progress:
                report = run_sync(
                    spec,
                    clients,
                    dry_run=args.dry_run,
                    progress=progress,
                    checkpoint=checkpoint,
                    metadata=metadata,
                    verify=args.verify,
                    metadata_ttl=ttl,
                )
            if checkpoint is not None:
                store.close_job(checkpoint.job_id, ended(with_errors=report.failed > 0))
            reports.append(report)
    finally:
        clients.close()
        if metadata is not None:
            metadata.close()
    _print_reports(reports, args.json)
    return 0 if all(r.failed == 0 for r in reports) else 1


def _print_reports(reports: list[TreeReport], as_json: bool) -> None:
    if as_json:
        print(json.dumps([r.model_dump() for r in reports], indent=2))
        return
    for report in reports:
        job = f" (job {report.job_id})" if report.job_id else ""
        print(
            f"sync {report.sync}{job}: {report.repositories} repositories, {report.images} "
            f"images: {report.copied} {'to copy' if report.dry_run else 'done'}, "
            f"{report.skipped} skipped, {report.failed} failed, {human_bytes(report.bytes)}"
        )
        if report.compress_bytes_before:
            ratio = report.compress_bytes_after / report.compress_bytes_before
            fallbacks = report.compress_fallbacks
            print(
                f"  compression {human_bytes(report.compress_bytes_before)} -> "
                f"{human_bytes(report.compress_bytes_after)} ({ratio:.2f}x) in "
                f"{report.compress_seconds:.2f}s, {report.layers_compressed} layers zstd"
                + (f", {fallbacks} images refused zstd (originals copied)" if fallbacks else "")
            )
        for planned in report.plan:
            print(
                f"  {planned.action:<4} {planned.source} -> {planned.destination} "
                f"({planned.reason})"
            )
        for failure in report.failures:
            print(f"  FAILED {failure.repository}:{failure.tag or '*'}: {failure.error}")


def _specs(args: argparse.Namespace) -> list[SyncSpec]:
    from freightliner.domain.documents import read_document  # noqa: PLC0415
    from freightliner.domain.sync import parse_sync_file  # noqa: PLC0415

    text = read_document(args.file, f"sync file {args.file}")
    syncs = parse_sync_file(text, str(args.file)).syncs
    unknown = set(args.only) - {s.name for s in syncs}
    if unknown:
        raise InvalidInput(f"no sync named {', '.join(sorted(unknown))} in {args.file}")
    chosen = [s for s in syncs if not args.only or s.name in args.only]
    compress = compression_option(args)  # `sync --compress` overrides the file's setting
    if compress is None:
        return chosen
    return [s.model_copy(update={"compress": compress}) for s in chosen]


def run_tree_command(args: argparse.Namespace) -> int:
    """Start each sync on the queue and state store the environment names, or make the
    schedules group hold exactly the file's scheduled syncs."""
    from freightliner.engine.tree.fanout import start_tree  # noqa: PLC0415 - loads httpx

    pipeline = cli_root.aws_pipeline()
    specs = _specs(args)
    if args.action == "schedule":
        schedules = cli_root.tree_schedules(pipeline)
        changes = schedules.apply({s.name: s.schedule for s in specs if s.schedule})
        for verb, names in changes.model_dump().items():
            for name in names:
                print(f"{name}: schedule {verb}")
        return 0
    for spec in specs:
        job_id, _ = start_tree(
            spec,
            pipeline.registry_clients,
            queue=pipeline.queue,
            state=pipeline.state,
            notifier=pipeline.notifier,
            verify=args.verify,
        )
        print(f"{spec.name}: started job {job_id}")
    return 0


def run_sync_command(args: argparse.Namespace) -> int:
    from freightliner.domain.sync import SyncSpec  # noqa: PLC0415

    specs = _specs(args)
    store = cli_root.checkpoints(args.state)
    try:
        if args.resume:
            stored = SyncSpec.model_validate_json(store.definition(args.resume))
            if stored not in specs:
                raise InvalidInput(
                    f"job {args.resume} was made by another sync definition ({stored.name} as "
                    f"it was then); refusing to resume it with {args.file}"
                )
            specs = [stored]
        return _run(specs, args, store, args.resume)
    finally:
        store.close()


def _store_of(args: argparse.Namespace) -> str:
    """`--store`, else what the job id says: local runs are `sync-…`, queued jobs not."""
    if args.store:
        return str(args.store)
    return "local" if not args.job or args.job.startswith("sync-") else "aws"


def _status(args: argparse.Namespace) -> JobStatus | None:
    from freightliner.domain.jobs import JobStatus  # noqa: PLC0415

    return JobStatus(args.status) if args.status else None


def run_jobs_command(args: argparse.Namespace) -> int:
    if _store_of(args) == "aws":
        return _queued_jobs(args)
    from freightliner.cli.job_views import local_view  # noqa: PLC0415
    from freightliner.domain.sync import SyncSpec  # noqa: PLC0415

    store = cli_root.checkpoints(args.state)
    try:
        if args.action == "resume":
            specs = [SyncSpec.model_validate_json(store.definition(args.job))]
            args.dry_run = False
            return _run(specs, args, store, args.job)
        if args.action == "list":
            _print_views([local_view(job, []) for job in store.jobs(_status(args))], args.json)
        else:
            view = local_view(store.summary(args.job), store.failures(args.job))
            _print_status(view, args.json)
        return 0
    finally:
        store.close()


def _queued_jobs(args: argparse.Namespace) -> int:
    """Jobs in the pipeline's DynamoDB table (FREIGHTLINER_TABLE; resume: also the queue)."""
    from freightliner.cli.job_views import breaker_waits, table_view  # noqa: PLC0415
    from freightliner.engine.jobs.resume import resume_job  # noqa: PLC0415 - loads httpx

    pipeline = cli_root.aws_pipeline()
    state = pipeline.state
    if args.action == "list":
        listed = state.list_jobs(status=_status(args))
        _print_views([table_view(job, []) for job in listed], args.json)
        return 0
    if args.action == "status":
        job = state.get_job(args.job)
        if job is None:
            raise InvalidInput(f"no job {args.job} in the state table")
        view = table_view(job, state.failures(args.job))
        breakers = pipeline.breakers.open_breakers()
        if breakers:  # outage mode: which of its items wait, on which host
            items = state.list_items(args.job)
            view.waiting = breaker_waits(items, breakers, time.time())
        _print_status(view, args.json)
        return 0
    report = resume_job(
        args.job,
        pipeline.registry_clients,
        queue=pipeline.queue,
        state=state,
        retry_failed=args.retry_failed,
        notifier=pipeline.notifier,
    )
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        first = report.seconds_to_first_send
        print(
            f"job {report.job_id}: {report.resent} items sent again"
            + (f" (first after {first:.2f} s)" if first is not None else "")
            + (", listing finished" if report.reenumerated else "")
            + (f"; job {report.closed.status}" if report.closed else "")
        )
    return 0


def _print_views(views: list[JobView], as_json: bool) -> None:
    from freightliner.cli.job_views import render_row  # noqa: PLC0415

    if as_json:
        print(json.dumps([v.model_dump() for v in views], indent=2))
        return
    for view in views:
        print(render_row(view))


def _print_status(view: JobView, as_json: bool) -> None:
    from freightliner.cli.job_views import render_status  # noqa: PLC0415

    print(view.model_dump_json(indent=2) if as_json else render_status(view))
