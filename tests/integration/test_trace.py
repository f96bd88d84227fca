"""`freightliner trace` against moto in server mode (the state table's by-trace index,
CloudWatch Logs Insights start/get/stop, the stack's log groups) and the loopback Google fake
(Cloud Logging entries:list).

moto's Insights ignores the query's filter (it returns every line of the window): what the
filter says is tested in tests/unit/adapters/test_insights_queries.py; here the calls, the
window, the parsing and the timeline are real."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto.logs.models import LogQuery
from moto.logs.responses import LogsResponse

from freightliner.adapters.aws.dynamo_state import DynamoStateStore
from freightliner.adapters.aws.dynamo_trace import DynamoTraceIndex
from freightliner.adapters.aws.logs_insights import InsightsSearch
from freightliner.adapters.aws.stack_log_groups import stack_log_groups
from freightliner.adapters.gcp.cloud_logging import CloudLoggingSearch
from freightliner.adapters.gcp.gar_auth import GarCredentialProvider
from freightliner.adapters.gcp.google_rest import GoogleRest
from freightliner.cli.main import main
from freightliner.domain.jobs import JobRecord
from freightliner.domain.trace import LogCriteria
from freightliner.domain.work import ItemStatus, WorkItem
from freightliner.harness.aws_resources import create_resources
from freightliner.harness.images import Pusher
from freightliner.harness.registry import LocalRegistry
from tests.support.google_fake import GoogleFake, serve_google_fake_as_adc

DIGEST = "sha256:" + "0123456789ab" + "d" * 52
SOURCE = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/app@{DIGEST}"
DEST = "us-docker.pkg.dev/proj/mirror/app:1.2"
GROUPS = ["/aws/lambda/freightliner-OnEcrPush", "/aws/lambda/freightliner-Replicate"]


@pytest.fixture
def google(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleFake]:
    yield from serve_google_fake_as_adc(tmp_path, monkeypatch)


@pytest.fixture
def table(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    resources = create_resources(boto3.client("sqs"), boto3.client("dynamodb"))
    monkeypatch.setenv("FREIGHTLINER_TABLE", resources.table)
    monkeypatch.delenv("FREIGHTLINER_GCP_PROJECT", raising=False)
    monkeypatch.delenv("FREIGHTLINER_GAR_SUBSCRIPTION", raising=False)
    return boto3.resource("dynamodb").Table(resources.table)


def failed_copy(table: Any, started: float) -> WorkItem:
    """An ECR push whose copy to GAR failed once (503, retried) and then for good (403)."""
    store = DynamoStateStore(table)
    item = WorkItem(
        job_id="evt-0a1b2c",
        source=SOURCE,
        destination=DEST,
        source_digest=DIGEST,
        correlation_id="6a7e3c1e-evt",
    )
    job = JobRecord(
        job_id=item.job_id,
        created_at=started,
        correlation_id="6a7e3c1e-evt",
        detail={"event_id": "6a7e3c1e-evt", "action": "push", "source": SOURCE},
    )
    assert store.create_job(job, [item])
    store.mark_enqueued(item.job_id)
    store.claim(item)
    store.release(item, "HTTP 503", "unavailable")
    store.claim(item)
    store.finish(item, ItemStatus.FAILED, error="HTTP 403 from GAR", error_kind="forbidden")
    return item


def ship_lines(started: float) -> None:
    """What the functions logged, as Lambda ships it (one JSON line per event)."""
    logs = boto3.client("logs")
    common = {"service": "freightliner", "correlation_id": "6a7e3c1e-evt", "digest": "0123456789ab"}
    lines = {
        GROUPS[0]: [(0.05, {"level": "INFO", "message": "enqueued", "job_id": "evt-0a1b2c"})],
        GROUPS[1]: [
            (
                0.5,
                {
                    "level": "WARNING",
                    "message": "will be retried",
                    "error_kind": "unavailable",
                    "error": "HTTP 503",
                    "attempt": 1,
                    "retry_in": 30,
                    "job_id": "evt-0a1b2c",
                    "item_id": "x",
                },
            ),
            (0.9, {"level": "INFO", "message": "unrelated", "job_id": "evt-other"}),
        ],
    }
    for group, events in lines.items():
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="s")
        logs.put_log_events(
            logGroupName=group,
            logStreamName="s",
            logEvents=[
                {"timestamp": int((started + dt) * 1000), "message": json.dumps(common | fields)}
                for dt, fields in events
            ],
        )


def test_trace_by_digest_prefix_prints_the_state_and_the_logs_as_one_timeline(
    table: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.time() - 5
    item = failed_copy(table, started)
    ship_lines(started)
    monkeypatch.setenv("FREIGHTLINER_LOG_GROUPS", ",".join(GROUPS))
    assert main(["trace", "0123456789ab", "--json"]) == 0
    timeline = json.loads(capsys.readouterr().out)
    assert timeline["kind"] == "digest" and timeline["jobs"] == [item.job_id]
    stages = [(e["stage"], e["source"]) for e in timeline["events"]]
    assert ("received", "state") in stages and ("planned", "state") in stages
    assert ("retry", "cloudwatch") in stages  # attempt 1's error, only the logs know it
    failed = [e for e in timeline["events"] if e["stage"] == "failed" and e["item_id"]]
    assert failed[0]["error"] == "HTTP 403 from GAR" and failed[0]["attempt"] == 2
    assert ("received", "cloudwatch") not in stages  # the intake line repeats the table
    assert "not searched" in " ".join(timeline["notes"])  # no GCP project: said, not hidden

    assert main(["trace", item.job_id]) == 0
    text = capsys.readouterr().out
    assert f"trace {item.job_id} (job)" in text
    assert "will be retried: HTTP 503 (retry in 30 s)" in text
    assert "failed: us-docker.pkg.dev/proj/mirror/app:1.2: forbidden: HTTP 403 from GAR" in text
    assert "attempt 1: will be retried" in text and DIGEST not in text


def test_the_by_trace_index_finds_an_events_jobs_and_a_digests_items(table: Any) -> None:
    item = failed_copy(table, time.time())
    index = DynamoTraceIndex(table)
    assert [j.job_id for j in index.jobs_by_correlation("6a7e3c1e-evt")] == [item.job_id]
    assert index.jobs_by_correlation("6a7e3c1e") == []
    found = index.items_by_digest("sha256:0123456789")
    assert [(i.item_id, i.attempts, i.correlation_id) for i in found] == [
        (item.item_id, 2, "6a7e3c1e-evt")
    ]
    assert index.items_by_digest("sha256:0123456788") == []
    tree = [
        WorkItem(job_id="tree-1", source=SOURCE, destination=f"{DEST}-{n}", source_digest=DIGEST)
        for n in range(3)
    ]
    assert DynamoStateStore(table).create_job(JobRecord(job_id="tree-1", created_at=1.0), tree)
    assert len(index.list_items("tree-1")) == 3
    assert len(DynamoTraceIndex(table, limit=2).list_items("tree-1")) == 2  # bounded
    assert len(index.items_by_digest(DIGEST)) == 4  # the tree's items share the digest
    by_hand = WorkItem(job_id="none", source=SOURCE, destination=DEST, source_digest=DIGEST)
    DynamoStateStore(table).claim(by_hand)  # an item sent by hand: recorded by its claim
    assert by_hand.item_id in {i.item_id for i in index.items_by_digest(DIGEST)}


def test_an_image_tag_is_resolved_in_its_registry_before_the_trace(
    table: Any, registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    with Pusher(registry.url) as pusher:
        pushed = pusher.multi_platform("team/app", "v1")
    store = DynamoStateStore(table)
    item = WorkItem(
        job_id="evt-tag",
        source=f"{registry.host}/team/app@{pushed.digest}",
        destination=DEST,
        source_digest=str(pushed.digest),
        correlation_id="evt-tag-event",
    )
    job = JobRecord(job_id=item.job_id, created_at=time.time(), correlation_id="evt-tag-event")
    assert store.create_job(job, [item])
    assert main(["trace", f"{registry.host}/team/app:v1", "--no-logs", "--json"]) == 0
    timeline = json.loads(capsys.readouterr().out)
    assert timeline["kind"] == "image" and timeline["jobs"] == ["evt-tag"]
    assert main(["trace", f"{registry.host}/other/app:v1", "--no-logs"]) == 3  # no such tag


def test_a_query_still_running_at_the_timeout_is_stopped_in_moto(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto has no StopQuery and finishes every query at once: the test gives it both."""
    stopped: list[str] = []

    def stop_query(self: LogsResponse) -> str:
        stopped.append(self._get_param("queryId"))
        return json.dumps({"success": True})

    original = LogQuery.to_result_json
    monkeypatch.setattr(LogsResponse, "stop_query", stop_query, raising=False)
    monkeypatch.setattr(
        LogQuery, "to_result_json", lambda self: original(self) | {"status": "Running"}
    )
    started = time.time() - 5
    ship_lines(started)
    search = InsightsSearch(boto3.client("logs"), GROUPS, timeout=1.0, first_delay=0.2)
    result = search.search(LogCriteria(job_ids=["evt-0a1b2c"]), started - 60, time.time())
    assert len(stopped) == 1
    assert not result.complete and "timed out" in result.notes[0]
    assert len(result.records) == 3  # the partial rows are kept


def test_the_stacks_log_groups_are_read_from_its_resources(moto_endpoint: str) -> None:
    template = {
        "Resources": {
            name: {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": group}}
            for name, group in zip(("A", "B"), GROUPS, strict=True)
        }
        | {"Queue": {"Type": "AWS::SQS::Queue"}}
    }
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName="freightliner", TemplateBody=json.dumps(template))
    assert stack_log_groups(cloudformation, "freightliner") == sorted(GROUPS)


def test_cloud_logging_entries_are_listed_page_by_page_with_an_escaped_filter(
    google: GoogleFake,
) -> None:
    odd = 'msg"42\\'  # a quote and a backslash must reach Cloud Logging as themselves
    google.page_size = 2
    for n in range(5):
        google.add_log_entry(
            "proj",
            {"message": "enqueued" if n == 0 else f"line {n}", "correlation_id": odd, "n": n},
            f"2026-11-25T17:54:3{n}.25Z",
        )
    google.add_log_entry(
        "proj", {"message": "other", "correlation_id": "msg"}, "2026-11-25T17:54:35Z"
    )
    google.add_log_entry("other", {"message": "x", "correlation_id": odd}, "2026-11-25T17:54:35Z")
    rest = GoogleRest(httpx.Client(), GarCredentialProvider(), forbidden_hint="logging.viewer")
    search = CloudLoggingSearch(rest, "proj", google.url)
    start = 1_795_629_200.0  # 2026-11-25T17:53:20Z
    result = search.search(LogCriteria(correlation_ids=[odd]), start, start + 120)
    assert [r.fields["n"] for r in result.records] == [0, 1, 2, 3, 4]
    assert result.complete and result.records[0].origin == "on-gar-push"
    assert len(google.entry_filters) == 3  # three pages of two
    assert 'jsonPayload.correlation_id="msg\\"42\\\\"' in google.entry_filters[0]


def test_the_gar_side_joins_the_trace_from_the_projects_cloud_logging(
    table: Any,
    google: GoogleFake,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 30))
    google.add_log_entry(
        "proj",
        {"message": "enqueued", "correlation_id": "4242", "job_id": "evt-gar"},
        stamp,
    )
    monkeypatch.setenv("FREIGHTLINER_GCP_LOGGING_ENDPOINT", google.url)
    monkeypatch.setenv("FREIGHTLINER_GAR_SUBSCRIPTION", "projects/proj/subscriptions/gcr")
    assert main(["trace", "4242", "--since", "10m", "--json"]) == 0
    timeline = json.loads(capsys.readouterr().out)
    assert timeline["kind"] == "correlation"
    assert [(e["stage"], e["source"], e["origin"]) for e in timeline["events"]] == [
        ("received", "cloud-logging", "on-gar-push")
    ]
