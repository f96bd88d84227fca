"""`freightliner events redrive`: replay what failed once its cause is fixed.

Failed events (the asynchronously invoked functions' on-failure destination, and what
EventBridge could not deliver) go back to their function as asynchronous invocations;
dead-lettered work items go back onto the work queue. Prints what it replayed.
"""

from __future__ import annotations

import argparse
import os

from freightliner.bootstrap import cli_root
from freightliner.domain.errors import InvalidInput

DEFAULT_LIMIT = 10_000


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    events = sub.add_parser("events", help="failed events and dead-lettered work items")
    verbs = events.add_subparsers(dest="events_command", required=True)
    redrive = verbs.add_parser(
        "redrive", help="replay failed events and move dead-lettered work items back"
    )
    redrive.add_argument(
        "--failed-events",
        metavar="URL",
        help="failed-events queue (or $FREIGHTLINER_FAILED_EVENTS_URL)",
    )
    redrive.add_argument(
        "--dlq", metavar="URL", help="dead-letter queue (or $FREIGHTLINER_DLQ_URL)"
    )
    redrive.add_argument(
        "--work-queue", metavar="URL", help="work queue (or $FREIGHTLINER_QUEUE_URL)"
    )
    redrive.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N messages from each queue (default {DEFAULT_LIMIT})",
    )
    redrive.add_argument("--json", action="store_true", help="print one JSON document")


def run_events_command(args: argparse.Namespace) -> int:
    from freightliner.adapters.aws.sqs_messages import LambdaInvoker, SqsMessages  # noqa: PLC0415
    from freightliner.engine.events.redrive import (  # noqa: PLC0415
        RedriveReport,
        move_dead_letters,
        replay_failed_events,
    )
    from freightliner.environment import (  # noqa: PLC0415
        ENV_DLQ_URL,
        ENV_FAILED_EVENTS_URL,
        ENV_QUEUE_URL,
    )

    failed = args.failed_events or os.environ.get(ENV_FAILED_EVENTS_URL)
    dlq = args.dlq or os.environ.get(ENV_DLQ_URL)
    work_queue = args.work_queue or os.environ.get(ENV_QUEUE_URL)
    if not failed and not dlq:
        raise InvalidInput(
            f"name a queue: --failed-events / ${ENV_FAILED_EVENTS_URL} or --dlq / ${ENV_DLQ_URL}"
        )
    if dlq and not work_queue:
        raise InvalidInput(f"--dlq needs the work queue: --work-queue or ${ENV_QUEUE_URL}")
    if args.limit < 1:
        raise InvalidInput("--limit must be at least 1")
    work = cli_root.aws_pipeline()
    sqs = work.client("sqs")
    report = RedriveReport()
    if failed:
        invoker = LambdaInvoker(work.client("lambda"))
        replay_failed_events(SqsMessages(sqs, failed), invoker, report, args.limit)
    if dlq and work_queue:
        move_dead_letters(SqsMessages(sqs, dlq), SqsMessages(sqs, work_queue), report, args.limit)
    if args.json:
        print(report.model_dump_json(indent=2))
        return 0
    replayed = sum(report.events_replayed.values())
    print(f"failed events replayed: {replayed}")
    for function, count in sorted(report.events_replayed.items()):
        print(f"  {function:<40} {count}")
    if report.events_failed_again:
        again = report.events_failed_again
        print(f"failed again while replaying (left for the next redrive): {again}")
    if report.events_unreadable:
        print(f"failed events left on the queue (unreadable): {report.events_unreadable}")
    print(f"dead-lettered work items moved to the work queue: {report.work_items_moved}")
    return 0
