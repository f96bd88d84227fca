"""The scan gate end to end: ECR push event → on_ecr_push → the real ASL interpreted by moto
(Lambda tasks run the real handlers, scans come from moto's ECR) → SQS → replicate → "GAR"."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from freightliner.bootstrap.lambda_root import lambda_root
from freightliner.domain.errors import Unavailable
from freightliner.domain.jobs import JobRecord, JobSummary
from freightliner.domain.work import GateRequest, ItemStatus, gate_execution_name, job_id_for
from freightliner.engine.jobs.resume import ResumeReport, resume_job
from freightliner.environment import ENV_CONTAINER_ANALYSIS_ENDPOINT
from freightliner.harness import demo_gate
from freightliner.harness.functions import (
    EVENTS,
    ecr_push_event,
    forget_roots,
    gar_insert_event,
    load_handler,
    post_to_on_gar_push,
)
from freightliner.harness.images import OCI_MANIFEST, Pushed, Pusher, RandomBlob
from freightliner.harness.lambda_runtime import LocalContext, drain
from freightliner.harness.local_stack import ECR_CREDS, ECR_HOST, GAR_HOST, LocalStack
from freightliner.harness.scan_gate import JOB_EVENT_SOURCE, LocalScanGate, scan_result
from freightliner.ports.work import ItemRecord
from tests.support.container_analysis import container_analysis, discovery
from tests.support.emf import named
from tests.support.skopeo import skopeo_digest

RULES = f"""\
rules:
  - name: gated
    source: {{registry: {ECR_HOST}, repository: "secure/**"}}
    destinations: [{{registry: {GAR_HOST}, repository: "my-project/secure/{{repository}}"}}]
    scan_gate:
      {{first_wait_seconds: 1, max_wait_seconds: 1, timeout_seconds: 60, allow: [CVE-2024-0001]}}
  - name: lenient
    source: {{registry: {ECR_HOST}, repository: "lenient/**"}}
    destinations: [{{registry: {GAR_HOST}, repository: "my-project/lenient/{{repository}}"}}]
    scan_gate:
      {{first_wait_seconds: 1, max_wait_seconds: 1, timeout_seconds: 60, on_scan_error: allow}}
  - name: impatient
    source: {{registry: {ECR_HOST}, repository: "slow/**"}}
    destinations: [{{registry: {GAR_HOST}, repository: "my-project/slow/{{repository}}"}}]
    scan_gate: {{first_wait_seconds: 1, max_wait_seconds: 1, timeout_seconds: 3}}
  - name: patient
    source: {{registry: {ECR_HOST}, repository: "patient/**"}}
    destinations: [{{registry: {GAR_HOST}, repository: "my-project/patient/{{repository}}"}}]
    scan_gate: {{first_wait_seconds: 60, max_wait_seconds: 60}}
  - name: from-gar
    source: {{registry: {GAR_HOST}, repository: "my-project/scanned/**"}}
    destinations: [{{registry: {ECR_HOST}, repository: "from-gar/{{name}}"}}]
    scan_gate:
      first_wait_seconds: 1
      max_wait_seconds: 1
      timeout_seconds: 60
      max_findings: {{CRITICAL: 0, HIGH: 1}}
      allow: [CVE-2024-1111]
"""
GCP_TOKEN = "ya29.scan-gate-test-token"


def resume(job_id: str, retry_failed: bool = False) -> ResumeReport:
    """`freightliner jobs resume` on the pipeline the handlers use."""
    root = lambda_root()
    return resume_job(
        job_id,
        root.registry_clients,
        queue=root.queue,
        state=root.state,
        retry_failed=retry_failed,
        notifier=root.notifier,
    )


@dataclass
class Gate:
    stack: LocalStack
    gate: LocalScanGate
    sqs: Any
    on_ecr_push: Any
    replicate: Any

    def push(self, repository: str, tag: str, seed: int) -> Pushed:
        return self.stack.push_ecr(repository, tag, [RandomBlob(seed, 20_000)])

    def fire(self, repository: str, tag: str, image: Pushed, event_id: str = "") -> dict[str, Any]:
        event = ecr_push_event(
            repository, image.digest, tag=tag, event_id=event_id or f"push-{repository}-{tag}"
        )
        reply: dict[str, Any] = self.on_ecr_push.handler(event, LocalContext())
        return reply

    def wait(self, reply: dict[str, Any]) -> dict[str, Any]:
        """The finished gate execution of a reply's (single) held item."""
        item = self.item(reply)
        return self.gate.wait(gate_execution_name(item.source_digest, item.destination))

    def work(self) -> int:
        assert self.stack.resources is not None
        return drain(self.sqs, self.stack.resources.queue_url, self.replicate.handler)

    def job(self, reply: dict[str, Any]) -> JobRecord:
        job = lambda_root().state.get_job(reply["job_id"])
        assert job is not None
        return job

    def item(self, reply: dict[str, Any]) -> ItemRecord:
        [item] = lambda_root().state.list_items(reply["job_id"])
        return item

    def in_gar(self, repository: str, tag: str) -> str | None:
        response = httpx.head(
            f"{self.stack.gar.url}/v2/{repository}/manifests/{tag}",
            headers={"Accept": OCI_MANIFEST},
        )
        if response.status_code != 200:
            return None
        return response.headers.get("Docker-Content-Digest")


@contextlib.contextmanager
def running_gate(tmp_path: Path, rules: str) -> Iterator[Gate]:
    """The local stack with `rules` and the scan gate on moto, its handlers the real ones."""
    with LocalStack(tmp_path / "stack", rules=rules, visibility_timeout=1) as stack:
        stack.apply_env()
        with LocalScanGate(stack) as scan_gate:
            forget_roots()
            try:
                yield Gate(
                    stack,
                    scan_gate,
                    boto3.client("sqs", region_name="us-east-1"),
                    load_handler("on_ecr_push"),
                    load_handler("replicate"),
                )
            finally:
                forget_roots()


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    with running_gate(tmp_path, RULES) as running:
        yield running


def test_a_scan_that_completes_clean_lets_the_image_through(gate: Gate) -> None:
    image = gate.push("secure/api", "v1", seed=1)
    statuses = ["PENDING", "IN_PROGRESS", "IN_PROGRESS"]
    gate.gate.script_ecr_scan(
        *(scan_result("secure/api", image.digest, s) for s in statuses),
        scan_result(
            "secure/api",
            image.digest,
            "COMPLETE",
            [("CVE-2024-0002", "HIGH"), ("CVE-2024-0003", "MEDIUM"), ("CVE-2024-0001", "CRITICAL")],
        ),
    )
    reply = gate.fire("secure/api", "v1", image)
    assert reply["status"] == "enqueued" and reply["gated"] == 1 and reply["items"] == 0
    execution = gate.wait(reply)
    assert execution["status"] == "SUCCEEDED", execution
    checks = gate.gate.task_calls("check_scan")
    assert [c.event["attempt"] for c in checks] == [0, 1, 2, 3]
    assert [c.result and c.result["status"] for c in checks] == [*statuses, "COMPLETE"]
    assert [c.result and c.result["wait_seconds"] for c in checks] == [1, 1, 1, 0]
    [verdict] = gate.gate.task_calls("evaluate_findings")
    assert verdict.result is not None and verdict.result["allowed"] is True
    assert verdict.result["allow_listed"] == ["CVE-2024-0001"]
    assert verdict.result["counts"] == {"HIGH": 1, "MEDIUM": 1}
    assert gate.work() == 1
    assert gate.in_gar("my-project/secure/secure/api", "v1") == image.digest
    job = gate.job(reply)
    assert job.status == "COMPLETE" and job.done == 1
    item = gate.item(reply)
    assert item.status is ItemStatus.DONE and item.digest == image.digest
    assert item.scan_verdict == "within policy: 1 HIGH, 1 MEDIUM"  # why it was let through
    assert item.scan_findings == {"HIGH": 1, "MEDIUM": 1}
    assert item.gate_execution == execution["executionArn"]


def test_a_critical_finding_blocks_the_image_and_nothing_is_copied(gate: Gate) -> None:
    image = gate.push("secure/legacy", "v1", seed=2)
    findings = [("CVE-2023-4911", "CRITICAL"), ("CVE-2023-1000", "LOW")]
    gate.gate.script_ecr_scan(
        scan_result("secure/legacy", image.digest, "IN_PROGRESS"),
        scan_result("secure/legacy", image.digest, "COMPLETE", findings),
    )
    reply = gate.fire("secure/legacy", "v1", image)
    execution = gate.wait(reply)
    assert execution["status"] == "SUCCEEDED"  # holding the image is the gate working
    item = gate.item(reply)
    assert item.status is ItemStatus.BLOCKED and item.error_kind == "scan_policy"
    assert item.scan_findings == {"CRITICAL": 1, "LOW": 1}
    assert "1 CRITICAL finding(s), at most 0 allowed (CVE-2023-4911)" in (item.last_error or "")
    assert item.gate_execution == execution["executionArn"]
    job = gate.job(reply)
    assert job.status == "COMPLETED_WITH_ERRORS" and job.blocked == 1 and job.failed == 0
    assert gate.work() == 0
    assert gate.in_gar("my-project/secure/secure/legacy", "v1") is None
    [event] = gate.gate.announcements()
    [job_end] = gate.gate.announcements(JOB_EVENT_SOURCE)
    assert event["detail-type"] == "Freightliner Scan Gate BLOCKED"
    assert event["detail"]["findings"] == {"CRITICAL": 1, "LOW": 1}
    assert event["detail"]["source"] == f"{ECR_HOST}/secure/legacy@{image.digest}"
    # the item was its job's last: the gate closed the job and said so, as the worker would
    assert job.finished_at is not None
    assert job_end["detail-type"] == "Freightliner Job Finished"
    assert job_end["detail"] == job.model_dump(mode="json", exclude={"detail"}) | {"sync": None}


def test_an_unsupported_image_is_blocked_or_let_through_by_on_scan_error(gate: Gate) -> None:
    strict = gate.push("secure/scratch", "v1", seed=3)
    lenient = gate.push("lenient/scratch", "v1", seed=4)
    why = "The operating system and/or package manager are not supported."
    for repository, image in (("secure/scratch", strict), ("lenient/scratch", lenient)):
        gate.gate.script_ecr_scan(
            scan_result(repository, image.digest, "UNSUPPORTED_IMAGE", description=why)
        )
    held = gate.fire("secure/scratch", "v1", strict)
    passed = gate.fire("lenient/scratch", "v1", lenient)
    assert gate.wait(held)["status"] == "SUCCEEDED"
    assert gate.wait(passed)["status"] == "SUCCEEDED"
    item = gate.item(held)
    assert item.status is ItemStatus.BLOCKED and item.error_kind == "scan_error"
    assert f"scan UNSUPPORTED_IMAGE: {why} (on_scan_error: block)" == item.last_error
    assert gate.work() == 1
    assert gate.in_gar("my-project/lenient/lenient/scratch", "v1") == lenient.digest
    assert gate.in_gar("my-project/secure/secure/scratch", "v1") is None
    assert gate.job(passed).status == "COMPLETE"
    let_through = gate.item(passed)
    assert let_through.status is ItemStatus.DONE
    assert let_through.scan_verdict == f"scan UNSUPPORTED_IMAGE: {why} (on_scan_error: allow)"


def test_a_scan_that_never_finishes_times_out_into_on_scan_error(gate: Gate) -> None:
    image = gate.push("slow/app", "v1", seed=5)
    gate.gate.script_ecr_scan(scan_result("slow/app", image.digest, "IN_PROGRESS"))
    reply = gate.fire("slow/app", "v1", image)
    assert gate.wait(reply)["status"] == "SUCCEEDED"
    item = gate.item(reply)
    assert item.status is ItemStatus.BLOCKED and item.error_kind == "scan_error"
    assert (item.last_error or "").startswith("no scan result within 3 s, last status IN_PROGRESS")
    checks = gate.gate.task_calls("check_scan")
    assert 3 <= len(checks) <= 6 and checks[-1].result is not None
    assert checks[-1].result["next"] == "block"
    assert gate.work() == 0 and gate.in_gar("my-project/slow/slow/app", "v1") is None


def test_a_failing_check_is_retried_then_recorded_on_the_item(
    gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = gate.push("secure/unreachable", "v1", seed=6)
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:9")  # the tasks' ECR is down
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    forget_roots()
    reply = gate.fire("secure/unreachable", "v1", image)
    execution = gate.wait(reply)
    assert execution["status"] == "FAILED" and execution["error"] == "Unavailable"
    checks = gate.gate.task_calls("check_scan")
    assert [c.error for c in checks] == ["Unavailable"] * 5  # the first try and 4 retries
    # the execution ends with the error's message, not the Lambda runtime's JSON around it
    assert execution["cause"].startswith("ecr:GetRegistryScanningConfiguration ")
    assert "stackTrace" not in execution["cause"]
    item = gate.item(reply)
    assert item.status is ItemStatus.FAILED and item.error_kind == "Unavailable"
    assert "EndpointConnectionError" in (item.last_error or "")
    assert "stackTrace" not in (item.last_error or "")  # the message, for people
    job = gate.job(reply)
    assert job.status == "COMPLETED_WITH_ERRORS" and job.failed == 1
    [event] = gate.gate.announcements()
    assert event["detail-type"] == "Freightliner Scan Gate FAILED"
    # retrying the job's failures cannot send an image the gate never let through
    assert resume(job.job_id, retry_failed=True).resent == 0
    assert gate.item(reply).status is ItemStatus.FAILED and gate.work() == 0


def test_one_gate_per_image_and_destination(gate: Gate) -> None:
    image = gate.push("secure/twice", "v1", seed=7)
    gate.gate.script_ecr_scan(
        scan_result("secure/twice", image.digest, "IN_PROGRESS"),
        scan_result("secure/twice", image.digest, "COMPLETE"),
    )
    first = gate.fire("secure/twice", "v1", image, event_id="push-1")
    assert gate.fire("secure/twice", "v1", image, event_id="push-1") == first  # redelivered
    other = gate.fire("secure/twice", "v1", image, event_id="push-2")  # same image, new event
    assert other["status"] == "enqueued" and other["job_id"] != first["job_id"]
    covered = gate.item(other)
    assert covered.status is ItemStatus.SKIPPED and covered.error_kind == "gate_covered"
    assert first["job_id"] in (covered.last_error or "")
    assert gate.job(other).status == "COMPLETE"  # nothing left to wait for
    # the intake closed that job: it ends as any other, with its event
    ended = [e["detail"]["job_id"] for e in gate.gate.announcements(JOB_EVENT_SOURCE)]
    assert ended == [other["job_id"]]
    execution = gate.wait(first)
    assert execution["status"] == "SUCCEEDED"
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    assert len(sfn.list_executions(stateMachineArn=gate.gate.arn)["executions"]) == 1
    assert gate.work() == 1 and gate.in_gar("my-project/secure/secure/twice", "v1")
    # Starting the finished gate again (a crash before the job was marked) is a no-op.
    request = GateRequest.model_validate_json(execution["input"])
    gate_port = lambda_root().gate
    assert gate_port is not None and gate_port.start([request]) == []
    assert len(sfn.list_executions(stateMachineArn=gate.gate.arn)["executions"]) == 1


def test_an_artifact_registry_push_waits_for_container_analysis(
    gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Pusher(gate.stack.gar.url) as pusher:
        image = pusher.image("my-project/scanned/app", "1.0", [RandomBlob(8, 20_000)])
    resource = f"https://{GAR_HOST}/my-project/scanned/app@{image.digest}"
    with container_analysis(GCP_TOKEN) as analysis:
        analysis.script(resource, None, discovery("SCANNING"), discovery("FINISHED_SUCCESS"))
        analysis.vulnerabilities[resource] = [
            ("CVE-2024-1111", "CRITICAL"),  # allow-listed by the rule
            ("CVE-2024-2222", "HIGH"),
            ("CVE-2024-3333", "MINIMAL"),
        ]
        # Artifact Registry's token (as the GAR provider gives it) from the registries config.
        monkeypatch.setenv("GAR_TOKEN", GCP_TOKEN)
        monkeypatch.setenv(ENV_CONTAINER_ANALYSIS_ENDPOINT, analysis.url)
        (gate.stack.workdir / "registries.yaml").write_text(
            "registries:\n"
            f"  - host: {ECR_HOST}\n    endpoint: {gate.stack.ecr.url}\n"
            f"  - host: {GAR_HOST}\n    endpoint: {gate.stack.gar.url}\n"
            "    auth: {kind: basic, username: oauth2accesstoken, password_env: GAR_TOKEN}\n"
        )
        forget_roots()
        event = gar_insert_event(
            f"{GAR_HOST}/my-project/scanned/app@{image.digest}",
            f"{GAR_HOST}/my-project/scanned/app:1.0",
        )
        response = post_to_on_gar_push(event)
        assert response.status_code == 200, response.text
        reply = {"job_id": job_id_for(event["data"]["message"]["messageId"], image.digest)}
        assert gate.wait(reply)["status"] == "SUCCEEDED"
    checks = gate.gate.task_calls("check_scan")
    assert [c.result and c.result["status"] for c in checks] == [
        "NOT_SCANNED",
        "SCANNING",
        "FINISHED_SUCCESS",
    ]
    assert {s.authorization for s in analysis.seen} == {f"Bearer {GCP_TOKEN}"}
    assert [s.page_token for s in analysis.seen if s.kind == "VULNERABILITY"] == ["", "2"]
    [verdict] = gate.gate.task_calls("evaluate_findings")
    assert verdict.result is not None
    assert verdict.result["counts"] == {"HIGH": 1, "INFORMATIONAL": 1}
    assert gate.work() == 1
    assert skopeo_digest(f"{gate.stack.ecr.host}/from-gar/app:1.0", ECR_CREDS) == image.digest
    assert gate.job(reply).status == "COMPLETE"


def test_scan_events_end_the_waits_early(gate: Gate) -> None:
    """Basic scanning's "ECR Image Scan" and enhanced scanning's "Inspector2 Scan" each wake
    the gate waiting on their image: it checks at once instead of after its 60 s wait."""
    on_scan_event = load_handler("on_scan_event").handler
    samples = {"basic": "ecr-scan-complete.json", "enhanced": "inspector2-scan.json"}
    images = {
        name: gate.push(f"patient/{name}", "v1", seed=10 + n) for n, name in enumerate(samples)
    }
    for name, image in images.items():
        gate.gate.script_ecr_scan(
            scan_result(f"patient/{name}", image.digest, "IN_PROGRESS"),
            scan_result(f"patient/{name}", image.digest, "COMPLETE"),
        )
    replies = {name: gate.fire(f"patient/{name}", "v1", image) for name, image in images.items()}
    deadline = time.monotonic() + 20
    while len(gate.gate.task_calls("wait_for_scan")) < 2:  # both gates parked their wait
        assert time.monotonic() < deadline, "the gates never waited"
        time.sleep(0.1)
    # a resume sends nothing the gate still holds
    assert resume(replies["basic"]["job_id"]).resent == 0
    woke_at = time.monotonic()
    for name, sample in samples.items():
        event = json.loads((EVENTS / sample).read_text())
        repository = event["detail"]["repository-name"].replace("team/app", f"patient/{name}")
        event["detail"].update({"repository-name": repository, "image-digest": images[name].digest})
        image = f"{ECR_HOST}/patient/{name}@{images[name].digest}"
        assert on_scan_event(event, LocalContext()) == {"image": image, "parked": 1, "woken": 1}
        assert on_scan_event(event, LocalContext())["parked"] == 0  # a repeat wakes nothing
    for reply in replies.values():
        assert gate.wait(reply)["status"] == "SUCCEEDED"
    assert time.monotonic() - woke_at < 20
    assert len(gate.gate.task_calls("check_scan")) == 4  # two looks each, no timeout between
    assert gate.work() == 2
    bad = json.loads((EVENTS / "ecr-scan-complete.json").read_text())
    bad["detail"]["image-digest"] = "sha256:short"
    assert on_scan_event(bad, LocalContext())["status"] == "rejected"


def test_a_wait_that_cannot_be_parked_still_polls(gate: Gate) -> None:
    image = gate.push("secure/unparked", "v1", seed=12)
    gate.gate.script_ecr_scan(
        scan_result("secure/unparked", image.digest, "IN_PROGRESS"),
        scan_result("secure/unparked", image.digest, "COMPLETE"),
    )
    gate.gate.break_task("wait_for_scan", Unavailable("the state table is unreachable"))
    reply = gate.fire("secure/unparked", "v1", image)
    assert gate.wait(reply)["status"] == "SUCCEEDED"
    parks = gate.gate.task_calls("wait_for_scan")
    assert [c.error for c in parks] == ["Unavailable"] * 5  # retried, then a plain wait
    assert len(gate.gate.task_calls("check_scan")) == 2
    assert gate.work() == 1 and gate.in_gar("my-project/secure/secure/unparked", "v1")


def test_make_demo_gate_lets_one_image_through_and_holds_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    assert demo_gate.main() == 0
    out = capsys.readouterr().out
    assert "secure/legacy:v1     BLOCKED  1 CRITICAL, 1 HIGH" in out
    assert "on_scan_event secure/api: woke 1 gate(s)" in out


def test_a_job_the_gate_closes_ends_as_one_the_worker_closes(
    gate: Gate, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="freightliner.engine.jobs.end")
    held = gate.push("secure/held", "v1", seed=11)
    clean = gate.push("secure/clean", "v1", seed=12)
    gate.gate.script_ecr_scan(
        scan_result("secure/held", held.digest, "COMPLETE", [("CVE-2023-4911", "CRITICAL")]),
        scan_result("secure/clean", clean.digest, "COMPLETE"),
    )
    by_gate = gate.fire("secure/held", "v1", held)
    by_worker = gate.fire("secure/clean", "v1", clean)
    assert gate.wait(by_gate)["status"] == gate.wait(by_worker)["status"] == "SUCCEEDED"
    assert gate.work() == 1  # the clean image: the worker closes its job
    closed_by_gate, closed_by_worker = gate.job(by_gate), gate.job(by_worker)
    assert closed_by_gate.status == "COMPLETED_WITH_ERRORS" and closed_by_gate.blocked == 1
    assert closed_by_worker.status == "COMPLETE" and closed_by_worker.done == 1
    ends = {e["detail"]["job_id"]: e for e in gate.gate.announcements(JOB_EVENT_SOURCE)}
    out = capsys.readouterr().out
    lines = {
        r.job_summary["job_id"]: r.getMessage()
        for r in caplog.records
        if r.name == "freightliner.engine.jobs.end"
    }
    for job in (closed_by_gate, closed_by_worker):
        # finished_at
        assert job.finished_at is not None and job.finished_at >= job.created_at
        # the event: the same detail-type and fields, the job as recorded
        assert ends[job.job_id]["detail-type"] == "Freightliner Job Finished"
        detail = job.model_dump(mode="json", exclude={"detail"}) | {"sync": None}
        assert ends[job.job_id]["detail"] == detail
        # the summary log line
        assert lines[job.job_id] == JobSummary.of(job).line()
        # the metrics: a count by kind and final status, and the job's duration
        [count] = named(out, "Jobs", kind="event", status=job.status)
        assert count.value == 1
        assert count.dimension_sets == [["kind", "status", "service"], ["service"]]
        [seconds] = named(out, "JobSeconds", kind="event", status=job.status)
        assert seconds.value == pytest.approx(job.finished_at - job.created_at, abs=0.01)
    assert set(ends) == {closed_by_gate.job_id, closed_by_worker.job_id}  # each said once
