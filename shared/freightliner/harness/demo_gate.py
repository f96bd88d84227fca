"""`make demo-gate`: the scan gate on this machine, one image let through and one held back.

Two images are pushed to the local "ECR" under a rule that asks for the scan gate (default
policy: any CRITICAL finding blocks). moto's ECR scans are scripted: `secure/api` finishes
with a HIGH and two MEDIUM findings, `secure/legacy` with a CRITICAL one. Each push goes
through the real `on_ecr_push` handler and starts the real state machine definition, which
moto runs (its Lambda tasks run the checkout's handlers); the "ECR Image Scan" event
(events/ecr-scan-complete.json) wakes both waiting gates through `on_scan_event`; the
`replicate` handler copies what passed to "GAR". Then a summary from DynamoDB, the gate's
events, and what "GAR" holds.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import boto3

from freightliner.bootstrap.lambda_root import lambda_root
from freightliner.domain.work import gate_execution_name
from freightliner.harness.demo import manifest_digest, step
from freightliner.harness.functions import EVENTS, ecr_push_event, forget_roots, load_handler
from freightliner.harness.images import RandomBlob
from freightliner.harness.lambda_runtime import LocalContext, drain
from freightliner.harness.local_stack import ECR_HOST, GAR_HOST, LocalStack
from freightliner.harness.scan_gate import LocalScanGate, scan_result

RULES = f"""\
rules:
  - name: scanned-to-gar
    source: {{registry: {ECR_HOST}, repository: "secure/**"}}
    destinations: [{{registry: {GAR_HOST}, repository: "my-project/secure/{{repository}}"}}]
    scan_gate: {{first_wait_seconds: 20, max_wait_seconds: 30}}
"""
FINDINGS = {
    "secure/api": [
        ("CVE-2024-6387", "HIGH"),
        ("CVE-2023-5678", "MEDIUM"),
        ("CVE-2024-0727", "MEDIUM"),
    ],
    "secure/legacy": [("CVE-2023-4911", "CRITICAL"), ("CVE-2023-38545", "HIGH")],
}


def main() -> int:
    with (
        tempfile.TemporaryDirectory(prefix="freightliner-demo-gate-") as tmp,
        LocalStack(Path(tmp), rules=RULES) as stack,
    ):
        stack.apply_env()
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the summary tells the story
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        with LocalScanGate(stack) as gate:
            forget_roots()
            print(f"local ECR  {ECR_HOST} -> {stack.ecr.url}")
            print(f"local GAR  {GAR_HOST} -> {stack.gar.url}")
            print(f"moto       {stack.moto_url} (Step Functions running {gate.arn})")
            ok = _run(stack, gate)
            forget_roots()
    print("\nthe clean image passed, the vulnerable one was held" if ok else "\nUNEXPECTED")
    return 0 if ok else 1


def _run(stack: LocalStack, gate: LocalScanGate) -> bool:
    digests = _push(stack, gate)
    jobs = _start_gates(digests)
    _finish_scans(gate, digests, jobs)
    step("4. replicate what passed (SQS -> replicate)")
    assert stack.resources is not None
    copied = drain(
        boto3.client("sqs"), stack.resources.queue_url, load_handler("replicate").handler
    )
    print(f"replicate: {copied} message(s)")
    _summary(gate, jobs)
    return _check_gar(stack, digests)


def _push(stack: LocalStack, gate: LocalScanGate) -> dict[str, str]:
    step("1. push two images; moto's ECR will report their scans")
    digests: dict[str, str] = {}
    for n, (repository, findings) in enumerate(FINDINGS.items()):
        image = stack.push_ecr(repository, "v1", [RandomBlob(n, 256 * 1024)])
        gate.script_ecr_scan(
            scan_result(repository, image.digest, "IN_PROGRESS"),
            scan_result(repository, image.digest, "COMPLETE", findings),
        )
        digests[repository] = image.digest
        listed = ", ".join(f"{i} {s}" for i, s in findings)
        print(f"{repository}:v1 {image.digest[:19]}  scan will find: {listed}")
    return digests


def _start_gates(digests: dict[str, str]) -> dict[str, str]:
    step("2. ECR push events -> on_ecr_push -> one scan-gate execution per image")
    on_ecr_push = load_handler("on_ecr_push").handler
    jobs: dict[str, str] = {}
    for repository, digest in digests.items():
        event = ecr_push_event(repository, digest, tag="v1", event_id=f"demo-{repository}")
        reply = on_ecr_push(event, LocalContext())
        jobs[repository] = reply["job_id"]
        print(f"on_ecr_push {repository}: {reply['status']}, {reply['gated']} held for the gate")
    return jobs


def _finish_scans(gate: LocalScanGate, digests: dict[str, str], jobs: dict[str, str]) -> None:
    step("3. the scans finish: ECR Image Scan events -> on_scan_event wakes the waiting gates")
    deadline = time.monotonic() + 30
    while len(gate.task_calls("wait_for_scan")) < len(digests) and time.monotonic() < deadline:
        time.sleep(0.2)
    on_scan_event = load_handler("on_scan_event").handler
    for repository, digest in digests.items():
        event = json.loads((EVENTS / "ecr-scan-complete.json").read_text())
        event["detail"].update({"repository-name": repository, "image-digest": digest})
        reply = on_scan_event(event, LocalContext())
        print(f"on_scan_event {repository}: woke {reply.get('woken', 0)} gate(s)")
    for repository, job_id in jobs.items():
        [item] = lambda_root().state.list_items(job_id)
        name = gate_execution_name(item.source_digest, item.destination)
        execution = gate.wait(name)
        history = boto3.client("stepfunctions").get_execution_history(
            executionArn=gate.execution_arn(name), maxResults=1000
        )
        # Standard workflows bill state transitions: one per state entered
        entered = sum(e["type"].endswith("StateEntered") for e in history["events"])
        print(f"scan gate {repository}: execution {execution['status']}, {entered} transitions")


def _summary(gate: LocalScanGate, jobs: dict[str, str]) -> None:
    step("summary (from DynamoDB)")
    print(f"{'image':<20} {'item':<8} {'findings':<28} reason")
    for repository, job_id in jobs.items():
        [item] = lambda_root().state.list_items(job_id)
        counts = ", ".join(f"{n} {s}" for s, n in item.scan_findings.items()) or "-"
        why = item.last_error or item.scan_verdict or ""
        print(f"{repository + ':v1':<20} {item.status:<8} {counts:<28} {why}")
    step("events from the gate (EventBridge)")
    for event in gate.announcements():
        print(f"{event['detail-type']}: {event['detail']['source']}")


def _check_gar(stack: LocalStack, digests: dict[str, str]) -> bool:
    step("what GAR holds")
    ok = True
    for repository, digest in digests.items():
        mirrored = f"my-project/secure/{repository}"
        served = manifest_digest(stack.gar, mirrored, "v1")
        expected = digest if repository == "secure/api" else "missing (404)"
        ok &= served == expected
        print(f"{'OK ' if served == expected else 'BAD'} {GAR_HOST}/{mirrored}:v1 {served}")
    return ok


if __name__ == "__main__":
    sys.exit(main())
