"""`make demo`: the replication pipeline on one machine, both directions.

1. `freightliner copy` (the CLI) copies a 3-platform image from local "ECR" to local "GAR".
2. An ECR push event goes through the real `on_ecr_push` handler; the `replicate` handler,
   fed by an SQS poller as Lambda's event source mapping would, copies it to "GAR".
3. A GAR INSERT CloudEvent goes through the Cloud Function (functions-framework); the copy
   lands back in a second ECR repository.
Then a summary from DynamoDB, every digest checked against the source, and what the
pipeline used (AWS requests, Lambda GB-seconds, bytes between clouds) per 1,000 images: the
figures docs/deploy.md prices.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import boto3
import httpx

from freightliner.bootstrap.lambda_root import lambda_root
from freightliner.domain.work import job_id_for
from freightliner.harness.functions import (
    ecr_push_event,
    forget_roots,
    gar_insert_event,
    load_handler,
    post_to_on_gar_push,
)
from freightliner.harness.images import OCI_INDEX, OCI_MANIFEST, Pusher
from freightliner.harness.lambda_runtime import LocalContext, drain
from freightliner.harness.local_stack import ECR_CREDS, ECR_HOST, GAR_HOST, LocalStack
from freightliner.harness.registry import LocalRegistry
from freightliner.harness.usage import Usage


def manifest_digest(registry: LocalRegistry, repository: str, tag: str, auth: Any = None) -> str:
    """The digest the registry serves for repository:tag, or `missing (<status>)`."""
    response = httpx.head(
        f"{registry.url}/v2/{repository}/manifests/{tag}",
        headers={"Accept": f"{OCI_INDEX}, {OCI_MANIFEST}"},
        auth=auth,
    )
    return str(response.headers.get("Docker-Content-Digest", f"missing ({response.status_code})"))


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def pipeline_steps(stack: LocalStack, digest: str, usage: Usage) -> list[str]:
    """Steps 2 and 3 through the real handlers; the ids of the two jobs."""
    step("2. ECR push -> on_ecr_push -> SQS -> replicate -> GAR")
    event = ecr_push_event("team/app", digest)
    on_ecr_push = usage.timed("on_ecr_push", load_handler("on_ecr_push").handler)
    reply = on_ecr_push(event, LocalContext())
    print(f"on_ecr_push: {reply}")
    sqs = boto3.client("sqs")
    assert stack.resources is not None
    replicate = usage.timed("replicate", load_handler("replicate").handler)
    print(f"replicate: {drain(sqs, stack.resources.queue_url, replicate)} message(s)")

    step("3. GAR INSERT (Pub/Sub CloudEvent) -> on_gar_push -> SQS -> replicate -> ECR")
    cloud_event = gar_insert_event(
        f"{GAR_HOST}/my-project/apps/team/app@{digest}",
        f"{GAR_HOST}/my-project/apps/team/app:v1",
    )
    response = usage.timed("on_gar_push", post_to_on_gar_push)(cloud_event)
    print(f"on_gar_push: HTTP {response.status_code}")
    print(f"replicate: {drain(sqs, stack.resources.queue_url, replicate)} message(s)")
    return [reply["job_id"], job_id_for(cloud_event["data"]["message"]["messageId"], digest)]


def main() -> int:
    with (
        tempfile.TemporaryDirectory(prefix="freightliner-demo-") as tmp,
        LocalStack(Path(tmp)) as stack,
    ):
        stack.apply_env()
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the summary tells the story
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        forget_roots()
        print(f"local ECR  {ECR_HOST} -> {stack.ecr.url}")
        print(f"local GAR  {GAR_HOST} -> {stack.gar.url}")
        print(f"moto       {stack.moto_url} (SQS, DynamoDB, ECR control plane)")
        with Pusher(stack.ecr.url, auth=ECR_CREDS) as pusher:
            seeded = pusher.multi_platform(
                "team/app", "v1", layer_sizes=(2 * 1024 * 1024, 256 * 1024)
            )
        print(f"seeded     {ECR_HOST}/team/app:v1 {seeded.digest} (3 platforms)")

        step("1. freightliner copy (CLI)")
        command = [
            sys.executable,
            "-m",
            "freightliner.cli.main",
            "copy",
            f"{ECR_HOST}/team/app:v1",
            f"{GAR_HOST}/my-project/cli/app:v1",
        ]
        print("$ freightliner copy", *command[-2:])
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        print(result.stdout.rstrip() or result.stderr.rstrip())
        if result.returncode != 0:
            return 1

        usage = Usage()
        with usage.counting():  # the pipeline's requests, not the CLI copy's or the summary's
            jobs = pipeline_steps(stack, seeded.digest, usage)
        state = lambda_root().state
        copied = 0

        step("summary (from DynamoDB)")
        print(f"{'source':<58} {'destination':<62} {'digest':<13} {'bytes':>9} {'s':>6}")
        for job_id in dict.fromkeys(jobs):
            for item in state.list_items(job_id):
                seconds = (item.finished_at or 0) - (item.started_at or 0)
                copied += item.bytes
                print(
                    f"{item.source.split('@')[0]:<58} {item.destination:<62} "
                    f"{(item.digest or '-')[7:19]:<13} {item.bytes:>9} {seconds:>6.2f}"
                )
        checks = {
            f"{GAR_HOST}/my-project/cli/app:v1": manifest_digest(
                stack.gar, "my-project/cli/app", "v1"
            ),
            f"{GAR_HOST}/my-project/apps/team/app:v1": manifest_digest(
                stack.gar, "my-project/apps/team/app", "v1"
            ),
            f"{ECR_HOST}/from-gar/app:v1": manifest_digest(
                stack.ecr, "from-gar/app", "v1", ECR_CREDS
            ),
        }
        step("digests")
        ok = True
        for ref, digest in checks.items():
            same = digest == seeded.digest
            ok &= same
            print(f"{'OK ' if same else 'BAD'} {ref} {digest}")
        step("usage: the pipeline's requests (steps 2 and 3: 2 images, one each way)")
        print("\n".join(usage.report(images=2, bytes_between_clouds=copied)))
        forget_roots()
        print("\nall copies kept the source digest" if ok else "\nDIGEST MISMATCH")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
