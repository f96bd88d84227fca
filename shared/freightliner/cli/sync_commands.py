"""`freightliner sync` and `freightliner jobs`: tree syncs with local checkpoints.

Every run records its job in a SQLite checkpoint file; `jobs resume JOB` (or `sync FILE
--resume JOB`) runs the job's own definition again and skips what it already finished.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from freightliner.adapters.local.sqlite_checkpoints import SqliteCheckpoints
from freightliner.bootstrap import Container, pipeline
from freightliner.cli.progress import TreeConsoleProgress, human_bytes
from freightliner.domain.errors import InvalidInput
from freightliner.domain.sync import SyncSpec, parse_sync_file
from freightliner.engine.tree import Checkpoint, TreeReport, run_sync

DEFAULT_STATE = Path(".freightliner/checkpoints.db")


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
    sync.add_argument("--registries", type=Path, metavar="FILE")
    sync.add_argument("--json", action="store_true", help="print one JSON document")
    state(sync)

    tree = sub.add_parser("tree", help="start tree syncs on the serverless pipeline")
    tree.add_argument("action", choices=["start"])
    tree.add_argument("file", type=Path, help="sync definition (YAML)")
    tree.add_argument("--only", action="append", default=[], metavar="NAME")

    jobs = sub.add_parser("jobs", help="tree-sync jobs: list, status, resume")
    jobs.add_argument("action", choices=["list", "status", "resume"])
    jobs.add_argument("job", nargs="?", help="job id (status, resume)")
    jobs.add_argument("--retry-failed", action="store_true", help="resume: failed images too")
    jobs.add_argument("--registries", type=Path, metavar="FILE")
    jobs.add_argument("--json", action="store_true")
    state(jobs)


def _run(
    specs: list[SyncSpec],
    args: argparse.Namespace,
    store: SqliteCheckpoints,
    resume: str | None,
) -> int:
    container = Container.from_environment(args.registries)
    reports: list[TreeReport] = []
    try:
        for spec in specs:
            checkpoint = None
            if not args.dry_run:
                job_id = resume or store.create_job(spec.name, spec.model_dump_json())
                finished = store.finished(job_id, args.retry_failed) if resume else set()
                checkpoint = Checkpoint(job_id, store, frozenset(finished))
            with TreeConsoleProgress() as progress:
                report = run_sync(
                    spec, container, dry_run=args.dry_run, progress=progress, checkpoint=checkpoint
                )
            if checkpoint is not None:
                store.close_job(
                    checkpoint.job_id, "COMPLETE" if report.failed == 0 else "COMPLETED_WITH_ERRORS"
                )
            reports.append(report)
    finally:
        container.close()
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
            f"images: {report.copied} {'to copy' if report.dry_run else 'copied'}, "
            f"{report.skipped} present, {report.failed} failed, {human_bytes(report.bytes)}"
        )
        for planned in report.plan:
            print(
                f"  {planned.action:<4} {planned.source} -> {planned.destination} "
                f"({planned.reason})"
            )
        for failure in report.failures:
            print(f"  FAILED {failure.repository}:{failure.tag or '*'}: {failure.error}")


def _specs(args: argparse.Namespace) -> list[SyncSpec]:
    try:
        text = args.file.read_text()
    except OSError as exc:
        raise InvalidInput(f"cannot read sync file {args.file}: {exc.strerror}") from None
    syncs = parse_sync_file(text, str(args.file)).syncs
    unknown = set(args.only) - {s.name for s in syncs}
    if unknown:
        raise InvalidInput(f"no sync named {', '.join(sorted(unknown))} in {args.file}")
    return [s for s in syncs if not args.only or s.name in args.only]


def run_tree_command(args: argparse.Namespace) -> int:
    """Start each sync on the queue and state store the environment names (AWS or local)."""
    work = pipeline()
    for spec in _specs(args):
        print(f"{spec.name}: started job {work.start_tree(spec)}")
    return 0


def run_sync_command(args: argparse.Namespace) -> int:
    specs = _specs(args)
    store = SqliteCheckpoints(args.state)
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


def run_jobs_command(args: argparse.Namespace) -> int:
    store = SqliteCheckpoints(args.state)
    try:
        if args.action == "list":
            jobs = store.jobs()
            if args.json:
                print(json.dumps([j.model_dump() for j in jobs], indent=2))
            for job in jobs if not args.json else []:
                when = datetime.fromtimestamp(job.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
                print(
                    f"{job.job_id}  {job.sync_name:<20} {job.status:<22} {when}  "
                    f"{job.done} copied, {job.skipped} present, {job.failed} failed"
                )
            return 0
        if not args.job:
            raise InvalidInput(f"jobs {args.action} needs a job id")
        if args.action == "status":
            summary = store.summary(args.job)
            failures = store.failures(args.job)
            if args.json:
                print(
                    json.dumps(
                        {**summary.model_dump(), "failures": [f.model_dump() for f in failures]},
                        indent=2,
                    )
                )
                return 0
            finished = summary.done + summary.skipped + summary.failed
            print(
                f"job {summary.job_id} ({summary.sync_name}): {summary.status}\n"
                f"  images   {finished} finished: {summary.done} copied, {summary.skipped} "
                f"present, {summary.failed} failed\n  bytes    {human_bytes(summary.bytes)}"
            )
            for failure in failures:
                print(f"  FAILED {failure.destination}: {failure.error}")
            return 0
        specs = [SyncSpec.model_validate_json(store.definition(args.job))]
        args.dry_run = False
        return _run(specs, args, store, args.job)
    finally:
        store.close()
