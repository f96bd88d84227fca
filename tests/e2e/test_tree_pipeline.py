"""Tree syncs from ECR: enumeration through moto's control plane (DescribeRepositories,
DescribeImages), the serverless fan-out through SQS and DynamoDB, job counters, the end event,
resume of a queued job, the local CLI on the same tree, and a no-op resync to a plain
registry decided from the verified tags in the state table."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from freightliner.bootstrap.lambda_root import lambda_root
from freightliner.cli.main import main
from freightliner.domain.work import WorkItem
from freightliner.engine.jobs.resume import ResumeReport, resume_job
from freightliner.engine.tree import fanout as tree_fanout
from freightliner.harness.functions import forget_roots, load_handler
from freightliner.harness.images import RandomBlob
from freightliner.harness.lambda_runtime import LocalContext
from freightliner.harness.local_stack import ECR_CREDS, ECR_HOST, GAR_HOST
from freightliner.harness.tree_job import start_first_sync
from tests.e2e.conftest import EVENTS, Stack

ECR = ECR_HOST
GAR = GAR_HOST


def resume(job_id: str) -> ResumeReport:
    """What `freightliner jobs resume JOB --store aws` does."""
    root = lambda_root()
    return resume_job(
        job_id, root.registry_clients, queue=root.queue, state=root.state, notifier=root.notifier
    )


def write_syncs(path: Path, **extra: Any) -> Path:
    spec = {
        "name": "prod-to-gar",
        "source": {"registry": ECR, "prefix": "prod"},
        "destination": {"registry": GAR, "prefix": "my-project/prod"},
        **extra,
    }
    path.write_text(json.dumps({"syncs": [spec]}))
    return path


def gar_tags(stack: Stack, repository: str) -> list[str]:
    found = httpx.get(f"{stack.gar.url}/v2/{repository}/tags/list")
    return sorted(found.json().get("tags") or []) if found.status_code == 200 else []


def end_events(monkeypatch: pytest.MonkeyPatch) -> Any:
    """An EventBridge bus whose job-finished events land in a queue the test reads."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    events.create_event_bus(Name="freightliner")
    url = sqs.create_queue(QueueName="job-ends")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(
        Name="job-ends",
        EventBusName="freightliner",
        EventPattern=json.dumps({"source": ["freightliner"]}),
    )
    events.put_targets(
        Rule="job-ends",
        EventBusName="freightliner",
        Targets=[{"Id": "q", "Arn": arn["QueueArn"]}],
    )
    monkeypatch.setenv("FREIGHTLINER_EVENT_BUS", "freightliner")

    def received() -> list[dict[str, Any]]:
        found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in found]

    return received


def test_local_sync_from_ecr_enumerates_through_the_control_plane(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(3):
        stack.push(f"prod/svc{n}", "v1.0.0", seed=20 + n)
    stack.push("dev/other", "v1.0.0", seed=29)
    sync = write_syncs(tmp_path / "sync.yaml")
    code = main(["sync", str(sync), "--state", str(tmp_path / "c.db"), "--json"])
    [report] = json.loads(capsys.readouterr().out)
    assert code == 0 and report["repositories"] == 3 and report["copied"] == 3
    for n in range(3):
        assert gar_tags(stack, f"my-project/prod/svc{n}") == ["v1.0.0"]


def test_latest_by_push_time_comes_from_describe_images(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Pushed in this order: v9 first, so "latest 2 by push time" is v1.0.0 and main.
    for n, tag in enumerate(["v9.0.0", "v1.0.0", "main"]):
        if n:
            time.sleep(1.05)  # moto stamps imagePushedAt in whole seconds
        stack.push("prod/app", tag, seed=40 + n)
    sync = write_syncs(tmp_path / "sync.yaml", latest=2)
    assert main(["sync", str(sync), "--state", str(tmp_path / "c.db"), "--json"]) == 0
    capsys.readouterr()
    assert gar_tags(stack, "my-project/prod/app") == ["main", "v1.0.0"]


def test_serverless_tree_sync_fans_out_pages_and_completes_once(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(6):
        for tag in ("v1.0.0", "v2.0.0"):
            stack.push(f"prod/svc{n}", tag, seed=100 + n * 10 + int(tag[1]))
    monkeypatch.setenv("FREIGHTLINER_SYNCS", str(write_syncs(tmp_path / "syncs.yaml")))
    monkeypatch.setattr(tree_fanout, "TAGS_PER_PAGE", 1)  # every repository takes two pages
    ends = end_events(monkeypatch)
    forget_roots()
    start = load_handler("start_tree").handler
    reply = start(json.loads((EVENTS / "start-tree.json").read_text()), LocalContext())
    assert reply["status"] == "started"
    # six repository items, six continuation pages, twelve images
    assert stack.work() == 6 + 6 + 12
    job = lambda_root().state.get_job(reply["job_id"])
    assert job is not None and job.status == "COMPLETE"
    assert (job.repositories, job.repositories_done, job.repositories_failed) == (6, 6, 0)
    assert (job.total, job.done, job.skipped, job.failed) == (12, 12, 0, 0)
    for n in range(6):
        assert gar_tags(stack, f"my-project/prod/svc{n}") == ["v1.0.0", "v2.0.0"]
    [event] = ends()
    assert event["detail-type"] == "Freightliner Job Finished"
    assert event["detail"]["job_id"] == reply["job_id"] and event["detail"]["status"] == "COMPLETE"
    assert stack.work() == 0 and ends() == []  # ended exactly once

    uploads = stack.blob_uploads()
    again = start({"sync": "prod-to-gar"}, LocalContext())
    assert stack.work() == 6 + 6  # repository pages only: every image is already there
    job = lambda_root().state.get_job(again["job_id"])
    assert job is not None and job.status == "COMPLETE"
    assert (job.repositories_skipped, job.skipped, job.done) == (6, 12, 0)
    assert stack.blob_uploads() == uploads
    assert start({"sync": "nope"}, LocalContext())["status"] == "rejected"


def test_a_failing_repository_is_reported_and_resume_retries_it(
    stack: Stack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for n in range(3):
        stack.push(f"prod/svc{n}", "v1.0.0", seed=60 + n)
    # Known to the control plane, but its manifest is gone from the registry: copying fails
    # permanently (not found) while the rest of the tree completes.
    broken = stack.push("prod/broken", "v1.0.0", seed=69)
    httpx.delete(
        f"{stack.ecr.url}/v2/prod/broken/manifests/{broken.digest}", auth=ECR_CREDS
    ).raise_for_status()
    monkeypatch.setenv("FREIGHTLINER_SYNCS", str(write_syncs(tmp_path / "syncs.yaml")))
    forget_roots()
    job_id = start_first_sync()
    stack.work()
    job = lambda_root().state.get_job(job_id)
    assert job is not None and job.status == "COMPLETED_WITH_ERRORS"
    assert (job.total, job.done, job.failed) == (4, 3, 1)

    capsys.readouterr()
    assert main(["jobs", "status", job_id]) == 0
    status = capsys.readouterr().out
    assert "COMPLETED_WITH_ERRORS" in status
    assert "4/4 finished: 3 done, 0 skipped, 1 failed, 0 blocked" in status
    assert "FAILED us-docker.pkg.dev/my-project/prod/broken:v1.0.0" in status
    assert job_id in (main(["jobs", "list", "--store", "aws"]), capsys.readouterr().out)[1]
    # by status, from the table's by-status index
    listed = ["jobs", "list", "--store", "aws", "--json", "--status"]
    assert main([*listed, "COMPLETED_WITH_ERRORS"]) == 0
    assert [j["job_id"] for j in json.loads(capsys.readouterr().out)] == [job_id]
    assert main([*listed, "COMPLETE"]) == 0 and json.loads(capsys.readouterr().out) == []

    # Without --retry-failed nothing is sent; with it, the repaired image is copied.
    assert main(["jobs", "resume", job_id]) == 0
    assert "0 items sent again" in capsys.readouterr().out
    stack.local.push_ecr("prod/broken", "v1.0.0", [RandomBlob(69, 50_000), b"tail"])
    assert main(["jobs", "resume", job_id, "--retry-failed", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["resent"] == 1 and report["seconds_to_first_send"] < 5
    stack.work()
    job = lambda_root().state.get_job(job_id)
    assert job is not None and job.status == "COMPLETE"
    assert (job.total, job.done, job.failed) == (4, 4, 0)
    assert gar_tags(stack, "my-project/prod/broken") == ["v1.0.0"]


def test_resume_sends_again_what_the_queue_lost(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(4):
        stack.push(f"prod/svc{n}", "v1.0.0", seed=80 + n)
    monkeypatch.setenv("FREIGHTLINER_SYNCS", str(write_syncs(tmp_path / "syncs.yaml")))
    forget_roots()
    job_id = start_first_sync()
    stack.sqs.purge_queue(QueueUrl=stack.resources.queue_url)  # every message lost
    assert stack.work() == 0
    job = lambda_root().state.get_job(job_id)
    assert job is not None and job.status == "RUNNING"
    report = resume(job_id)
    assert report.resent == 4 and not report.reenumerated
    assert stack.work() == 4 + 4
    job = lambda_root().state.get_job(job_id)
    assert job is not None and job.status == "COMPLETE" and job.done == 4
    assert resume(job_id).resent == 0  # a finished job sends nothing


def test_tree_schedules_follow_the_sync_file(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduler = boto3.client("scheduler")
    scheduler.create_schedule_group(Name="freightliner-trees")
    monkeypatch.setenv(
        "FREIGHTLINER_START_TREE_ARN", "arn:aws:lambda:us-east-1:123456789012:function:start"
    )
    monkeypatch.setenv("FREIGHTLINER_SCHEDULER_ROLE_ARN", "arn:aws:iam::123456789012:role/s")
    failed_events = "arn:aws:sqs:us-east-1:123456789012:freightliner-failed-events"
    monkeypatch.setenv("FREIGHTLINER_FAILED_EVENTS_ARN", failed_events)
    forget_roots()
    syncs = write_syncs(tmp_path / "syncs.yaml", schedule="rate(1 day)")
    assert main(["tree", "schedule", str(syncs)]) == 0
    found = scheduler.get_schedule(Name="prod-to-gar", GroupName="freightliner-trees")
    assert found["ScheduleExpression"] == "rate(1 day)"
    assert found["Target"]["DeadLetterConfig"] == {"Arn": failed_events}
    assert json.loads(found["Target"]["Input"]) == {"sync": "prod-to-gar"}
    write_syncs(syncs, schedule="cron(0 3 * * ? *)")
    assert main(["tree", "schedule", str(syncs)]) == 0
    found = scheduler.get_schedule(Name="prod-to-gar", GroupName="freightliner-trees")
    assert found["ScheduleExpression"] == "cron(0 3 * * ? *)"
    write_syncs(syncs)  # no schedule any more: the schedule goes
    assert main(["tree", "schedule", str(syncs)]) == 0
    listed = scheduler.list_schedules(GroupName="freightliner-trees")["Schedules"]
    assert listed == []


def test_a_redelivered_expansion_records_and_counts_nothing_twice(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        stack.push(f"prod/svc{n}", "v1.0.0", seed=90 + n)
    monkeypatch.setenv("FREIGHTLINER_SYNCS", str(write_syncs(tmp_path / "syncs.yaml")))
    forget_roots()
    work = lambda_root()
    job_id = start_first_sync()
    items = [WorkItem.model_validate_json(r.work or "") for r in work.state.list_items(job_id)]
    assert len(items) == 3
    # The same repository item expanded twice, as after a crash before it finished: its
    # images are recorded once, counted once, and the job still completes exactly once.
    [repository] = [i for i in items if i.source.endswith("/prod/svc0")]
    assert work.state.claim(repository) is not None
    tree_fanout.expand_repository(
        repository, work.registry_clients, queue=work.queue, state=work.state
    )
    assert work.state.add_items(job_id, items) == []  # the repositories, recorded again
    records = work.state.list_items(job_id)
    images = [WorkItem.model_validate_json(r.work or "") for r in records if "@" in r.source]
    assert len(images) == 1 and work.state.add_items(job_id, images) == []
    job = work.state.get_job(job_id)
    assert job is not None and (job.repositories, job.total) == (3, 1)
    stack.work()
    job = work.state.get_job(job_id)
    assert job is not None and job.status == "COMPLETE"
    assert (job.repositories_done, job.total, job.done) == (3, 3, 3)


def test_a_noop_resync_to_a_plain_registry_asks_it_nothing_until_verify_or_the_ttl(
    stack: Stack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The local "GAR" has no Artifact Registry API here: a plain registry, whose tags only
    # the metadata cache (verified rows in the state table) can vouch for without a request.
    for n in range(3):
        stack.push(f"prod/svc{n}", "v1.0.0", seed=130 + n)
    monkeypatch.setenv("FREIGHTLINER_SYNCS", str(write_syncs(tmp_path / "syncs.yaml")))
    forget_roots()
    start = load_handler("start_tree").handler

    def run(event: dict[str, Any]) -> tuple[Any, list[tuple[str, str, int]]]:
        seen = len(stack.gar_proxy.requests)
        reply = start(event, LocalContext())
        stack.work()
        job = lambda_root().state.get_job(reply["job_id"])
        assert job is not None and job.status == "COMPLETE" and job.total == 3
        return job, stack.gar_proxy.requests[seen:]

    first, _ = run({"sync": "prod-to-gar"})
    assert first.done == 3
    uploads = stack.blob_uploads()

    again, asked = run({"sync": "prod-to-gar"})
    assert (again.skipped, again.done) == (3, 0)
    assert asked == []  # verified by the copies within the TTL: no destination request at all

    verified, asked = run({"sync": "prod-to-gar", "verify": True})
    assert (verified.skipped, verified.done) == (3, 0)  # checked, found complete
    manifests = [path for _, path, _ in asked if "/manifests/v1.0.0" in path]
    assert len(manifests) >= 3 and stack.blob_uploads() == uploads

    monkeypatch.setenv("FREIGHTLINER_METADATA_TTL", "0")  # nothing is trusted: ask again
    forget_roots()
    start = load_handler("start_tree").handler
    expired, asked = run({"sync": "prod-to-gar"})
    assert expired.skipped == 3
    heads = [path for method, path, _ in asked if method == "HEAD" and "/manifests/" in path]
    assert sorted(heads) == [f"/v2/my-project/prod/svc{n}/manifests/v1.0.0" for n in range(3)]

    # `freightliner tree start --verify` starts the same verifying job as `"verify": true`
    capsys.readouterr()
    assert main(["tree", "start", str(tmp_path / "syncs.yaml"), "--verify"]) == 0
    job_id = capsys.readouterr().out.split("started job ")[1].strip()
    assert not tree_fanout.tree_spec(lambda_root().state, job_id).skip_existing
    stack.work()
    job = lambda_root().state.get_job(job_id)
    assert job is not None and job.status == "COMPLETE" and job.skipped == 3
