"""Enumeration and fan-out of a large ECR tree: `start_tree` against moto in server mode.

Creates REPOS repositories in moto's ECR, then times `Pipeline.start_tree` (DescribeRepositories
pages, one DynamoDB item and one SQS message per repository) and reports peak RSS growth; then
empties the queue and times `jobs resume` sending every item of the job again.
moto answers DescribeRepositories in one page whatever maxResults says, so this measures our
side of the fan-out, not ECR's paging.

    .venv/bin/python bench/tree_fanout_ecr.py [--repos 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path

import boto3

from freightliner.bootstrap.lambda_root import lambda_root
from freightliner.engine.job_resume import resume_job
from freightliner.engine.tree_fanout import start_tree
from freightliner.harness.functions import forget_roots
from freightliner.harness.local_stack import ECR_HOST, GAR_HOST, LocalStack


def without_moto_quadratic_costs() -> None:
    """Two costs of moto that AWS does not have, both quadratic in the data already stored:
    DynamoDB deep-copies the whole table once per action of every TransactWriteItems (a
    rollback backup), and SQS recounts every message in the queue (three list scans) for each
    message sent. Every transaction here succeeds and nothing is received while the bench
    runs, so it skips the backup and counts the queue with `len` (the figure it prints is
    still exact); what remains is our side of the fan-out and moto's per-request cost."""
    from moto.dynamodb.models.table import Table  # noqa: PLC0415
    from moto.sqs.models import Queue  # noqa: PLC0415

    Table.__deepcopy__ = lambda self, memo: self  # type: ignore[method-assign]
    Queue.approximate_number_of_messages = property(lambda self: len(self._messages))  # type: ignore[method-assign]
    Queue.approximate_number_of_messages_not_visible = property(lambda self: 0)  # type: ignore[method-assign]
    Queue.approximate_number_of_messages_delayed = property(lambda self: 0)  # type: ignore[method-assign]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=10_000)
    args = parser.parse_args()
    print(f"$ {shlex.join([Path(sys.executable).name, *sys.argv])}", flush=True)
    without_moto_quadratic_costs()
    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp)) as stack:
        stack.apply_env()
        ecr = boto3.client("ecr")
        started = time.perf_counter()
        for n in range(args.repos):
            ecr.create_repository(repositoryName=f"prod/team{n % 100}/svc{n}")
        print(
            f"created {args.repos} repositories in moto in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        syncs = Path(tmp) / "syncs.yaml"
        syncs.write_text(
            json.dumps(
                {
                    "syncs": [
                        {
                            "name": "big",
                            "source": {"registry": ECR_HOST, "prefix": "prod"},
                            "destination": {"registry": GAR_HOST, "prefix": "mirror/prod"},
                        }
                    ]
                }
            )
        )
        os.environ["FREIGHTLINER_SYNCS"] = str(syncs)
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
        forget_roots()
        work = lambda_root()
        spec = work.syncs.syncs[0]
        _ = work.state, work.queue, work.registry_clients  # build clients outside the timed part
        before = rss_mb()
        started = time.perf_counter()
        job_id, _ = start_tree(
            spec, work.registry_clients, queue=work.queue, state=work.state, notifier=work.notifier
        )
        seconds = time.perf_counter() - started
        job = work.state.get_job(job_id)
        assert job is not None and job.repositories == args.repos, job
        attributes = boto3.client("sqs").get_queue_attributes(
            QueueUrl=stack.env["FREIGHTLINER_QUEUE_URL"],
            AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]
        print(
            f"start_tree: {args.repos} repositories enumerated and fanned out in "
            f"{seconds:.1f} s ({args.repos / seconds:.0f}/s); the job counts "
            f"{job.repositories} repositories, the queue holds "
            f"{attributes['ApproximateNumberOfMessages']}"
        )
        print(
            f"peak RSS {rss_mb():.0f} MB (grew {rss_mb() - before:.0f} MB during fan-out; "
            "includes moto's in-process server)"
        )
        # Resume: the queue lost everything; every one of the job's items is sent again.
        boto3.client("sqs").purge_queue(QueueUrl=stack.env["FREIGHTLINER_QUEUE_URL"])
        report = resume_job(
            job_id,
            work.registry_clients,
            queue=work.queue,
            state=work.state,
            notifier=work.notifier,
        )
        assert report.resent == args.repos, report
        print(
            f"resume: first batch sent after {report.seconds_to_first_send:.2f} s (target < 5), "
            f"all {report.resent} items after {report.seconds:.1f} s"
        )
        forget_roots()
    return 0


if __name__ == "__main__":
    sys.exit(main())
