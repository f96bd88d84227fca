"""Metrics with dimensions, as the handlers write them (EMF on stdout), run in-process on
in-memory parts; and the push time that replication lag is measured from, carried from the
ECR event and the GAR notification through planning into the work item."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from freightliner.adapters.memory.registry import MemoryRegistries
from freightliner.adapters.memory.uploads import MemoryUploadSessions
from freightliner.bootstrap.lambda_root import LambdaRoot
from freightliner.domain.digest import Digest
from freightliner.domain.events import EcrImageAction, ImageEvent, PubSubPush
from freightliner.domain.rules import parse_rules
from freightliner.domain.sync import SyncFile, SyncSpec
from freightliner.domain.work import WorkItem
from freightliner.engine.events.intake import IntakeResult, accept_event
from freightliner.engine.events.planning import plan_event
from freightliner.engine.jobs import worker
from freightliner.harness.functions import EVENTS, load_handler
from freightliner.harness.lambda_runtime import LocalContext
from freightliner.observability import (
    JobEndMetrics,
    MetricName,
    count_failure,
    count_item,
    count_retry,
    emit,
)
from freightliner.ports.payloads import PayloadCodec
from freightliner.ports.work import PulledMessage
from freightliner.settings import Settings
from tests.support.emf import emitted, named
from tests.support.memory_work import MemoryQueue, MemoryRejectionLog, MemoryStateStore
from tests.support.oci_images import layer, push_image

SRC, DST = "src.test", "dst.test"
RULES = parse_rules(
    f"""
rules:
  - name: mirror
    source: {{registry: {SRC}, repository: 'team/*'}}
    destinations: [{{registry: {DST}, repository: 'mirror/{{name}}'}}]
""",
    "test rules",
)
PUSHED_AT = 1_700_000_000.0


class Deployment:
    """The replicate function's root, its parts in memory."""

    def __init__(self) -> None:
        self.registries = MemoryRegistries()
        self.queue = MemoryQueue()
        self.state = MemoryStateStore()
        self.root = LambdaRoot(Settings(region="eu-west-1"))
        self.root.__dict__.update(
            registry_clients=self.registries,
            state=self.state,
            queue=self.queue,
            rules=RULES,
            rejections=MemoryRejectionLog(),
            notifier=JobEndMetrics(),
            uploads=MemoryUploadSessions(),
            resending=None,  # no breakers: a retryable failure raises, as without a queue
            metadata=None,
            payloads=PayloadCodec(),
        )
        self.root.extend_visibility = lambda handle, seconds: None  # type: ignore[method-assign]

    def accept(self, tag: str, *, pushed_at: float | None = PUSHED_AT) -> WorkItem:
        image = push_image(self.registries.client(SRC), "team/app", tag, [layer(int(tag[1:]))])
        event = ImageEvent(
            event_id=f"event-{tag}",
            action="push",
            registry=SRC,
            repository="team/app",
            digest=str(image.digest),
            tag=tag,
            pushed_at=pushed_at,
        )
        accept_event(event, RULES, queue=self.queue, state=self.state, gate=None)
        item = self.queue.take()
        assert item is not None
        return item

    def replicate(self, item: WorkItem) -> dict[str, Any]:
        record = SQSRecord(
            {
                "messageId": "m-1",
                "receiptHandle": "r-1",
                "body": item.model_dump_json(),
                "attributes": {"ApproximateReceiveCount": "1"},
            }
        )
        reply: dict[str, Any] = load_handler("replicate").handle_record(record, self.root)
        return reply


def test_a_copy_counts_its_item_bytes_and_lag_from_the_push_by_destination(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment()
    item = deployment.accept("v1")
    assert item.pushed_at == PUSHED_AT  # the event's push time, through planning
    capsys.readouterr()
    monkeypatch.setattr(worker, "time", SimpleNamespace(time=lambda: PUSHED_AT + 90.5))
    reply = deployment.replicate(item)
    out = capsys.readouterr().out

    assert reply["outcome"] == "done" and reply["lag_seconds"] == 90.5
    [items] = named(out, "Items")
    assert items.dimensions == {
        "kind": "copy",
        "outcome": "done",
        "destination": DST,
        "service": "freightliner",
    }
    assert items.dimension_sets == [
        ["kind", "outcome", "destination", "service"],
        ["service", "kind", "outcome"],  # the roll-up over every destination
    ]
    assert items.value == 1 and items.namespace == "Freightliner"
    [lag] = named(out, "ReplicationLag", destination=DST)
    assert (lag.value, lag.unit) == (90.5, "Seconds")
    assert lag.dimension_sets == [["destination", "service"], ["service"]]
    [copied] = named(out, "Bytes", destination=DST)
    assert copied.value == reply["bytes"] > 0 and copied.unit == "Bytes"
    assert named(out, "CopySeconds", destination=DST)
    # the item was its job's last: the job's end, by kind and status
    [jobs] = named(out, "Jobs", kind="event", status="COMPLETE")
    assert jobs.value == 1 and named(out, "JobSeconds", kind="event", status="COMPLETE")


def test_a_copy_without_a_push_time_has_no_lag_and_a_present_image_is_skipped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployment = Deployment()
    item = deployment.accept("v2", pushed_at=None)
    assert deployment.replicate(item)["lag_seconds"] is None
    out = capsys.readouterr().out
    assert named(out, "Bytes") and not named(out, "ReplicationLag")
    again = deployment.accept("v3")
    push_image(deployment.registries.client(DST), "mirror/app", "v3", [layer(3)])  # present
    assert deployment.replicate(again)["outcome"] == "skipped"
    out = capsys.readouterr().out
    assert [e.value for e in named(out, "Items", outcome="skipped", kind="copy")] == [1.0]
    assert not named(out, "ReplicationLag") and not named(out, "Bytes")


def test_a_permanent_failure_counts_the_item_failed_and_the_failure_by_its_kind(
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployment = Deployment()
    item = deployment.accept("v4")
    source = deployment.registries.client(SRC)
    source.delete_manifest("team/app", Digest.parse(item.source_digest))  # gone since the push
    assert deployment.replicate(item)["outcome"] == "failed"
    out = capsys.readouterr().out
    assert named(out, "Items", kind="copy", outcome="failed", destination=DST)
    [failure] = named(out, "Failures")
    assert failure.dimensions["error_kind"] == "not_found"
    assert failure.dimension_sets == [["error_kind", "service"], ["service"]]  # the alarm's


def test_a_rejected_items_claimed_destination_is_no_dimension(
    capsys: pytest.CaptureFixture[str],
) -> None:
    forged = WorkItem(
        job_id="evt-forged",
        source=f"{SRC}/team/app@sha256:" + "a" * 64,
        destination="attacker-chosen-1234.example/x:v1",
        source_digest="sha256:" + "a" * 64,
    )
    count_item(forged, "rejected")
    [rejected] = named(capsys.readouterr().out, "Items", outcome="rejected")
    assert rejected.dimensions["destination"] == "unverified"
    count_item(forged, "duplicate")  # not an end: the first delivery counted it
    assert emitted(capsys.readouterr().out) == []


def test_permanent_and_retryable_failures_are_apart(capsys: pytest.CaptureFixture[str]) -> None:
    count_failure("forbidden")
    count_retry("rate_limited", 3)
    found = {
        (e.name, e.dimensions["error_kind"], e.value) for e in emitted(capsys.readouterr().out)
    }
    assert found == {("Failures", "forbidden", 1.0), ("Retries", "rate_limited", 3.0)}


def test_the_namespace_and_service_follow_the_powertools_variables(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Staging/Freightliner")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "freightliner-staging")
    emit({}, [(MetricName.GATES_WOKEN, "Count", 2)])  # type: ignore[list-item]
    [woken] = emitted(capsys.readouterr().out)
    assert woken.namespace == "Staging/Freightliner"
    assert woken.dimensions == {"service": "freightliner-staging"} and woken.value == 2


def test_metrics_are_off_when_powertools_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    count_failure("forbidden")
    assert emitted(capsys.readouterr().out) == []


class Pulled:
    """A subscription holding messages once."""

    def __init__(self, messages: list[PulledMessage]) -> None:
        self.messages = messages

    def pull(self, max_messages: int) -> list[PulledMessage]:
        pulled, self.messages = self.messages, []
        return pulled

    def ack(self, ack_ids: Any) -> None:
        pass

    def nack(self, ack_ids: Any) -> None:
        pass


def _gar_message(n: int, data: bytes) -> PulledMessage:
    return PulledMessage(
        ack_id=f"a{n}",
        message_id=f"m{n}",
        data=data,
        publish_time="2026-11-22T12:00:00Z",  # type: ignore[arg-type]
    )


def test_the_gar_poller_counts_events_by_outcome_and_keeps_the_publish_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    insert = json.loads((EVENTS / "gar-insert.cloudevent.json").read_text())["data"]["message"]
    notification = base64.b64decode(insert["data"])
    seen: list[ImageEvent] = []

    def accept(image: ImageEvent, correlation_id: str) -> IntakeResult:
        seen.append(image)
        outcome = "enqueued" if len(seen) == 1 else "duplicate"
        return IntakeResult(outcome=outcome, plan=plan_event(image, RULES, correlation_id))

    messages = [_gar_message(1, notification), _gar_message(2, notification)]
    messages.append(_gar_message(3, b"not json"))
    root = SimpleNamespace(notifications=Pulled(messages), accept=lambda i, c, _: accept(i, c))
    schedule = json.loads((EVENTS / "schedule.json").read_text())
    reply = load_handler("gar_poller").handle(schedule, LocalContext(), root)
    assert (reply["pulled"], reply["enqueued"], reply["rejected"]) == (3, 1, 1)
    out = capsys.readouterr().out

    assert seen[0].pushed_at == datetime(2026, 11, 22, 12, tzinfo=UTC).timestamp()
    counted = {e.dimensions["outcome"]: e.value for e in named(out, "Events", source="gar")}
    assert counted == {"enqueued": 1.0, "duplicate": 1.0, "rejected": 1.0}


def test_start_tree_counts_the_sync_it_started(capsys: pytest.CaptureFixture[str]) -> None:
    registries = MemoryRegistries()
    push_image(registries.client(SRC), "prod/api", "v1", [layer(1)])
    spec = SyncSpec.model_validate(
        {
            "name": "prod",
            "source": {"registry": SRC, "prefix": "prod"},
            "destination": {"registry": DST, "prefix": "mirror"},
        }
    )
    root = LambdaRoot(Settings(region="eu-west-1"))
    root.__dict__.update(
        registry_clients=registries,
        queue=MemoryQueue(),
        state=MemoryStateStore(),
        notifier=JobEndMetrics(),
        syncs=SyncFile(syncs=[spec]),
    )
    reply = load_handler("start_tree").handle({"sync": "prod"}, root)
    assert reply["status"] == "started"
    [started] = named(capsys.readouterr().out, "JobsStarted")
    assert started.dimensions == {"kind": "tree", "service": "freightliner"}
    assert started.value == 1


def test_the_push_time_comes_from_the_ecr_event_and_the_pub_sub_message() -> None:
    ecr = json.loads((EVENTS / "ecr-push.json").read_text())
    image = EcrImageAction.model_validate(ecr).image_event()
    assert image is not None
    assert image.pushed_at == datetime.fromisoformat(ecr["time"]).timestamp()
    [item] = plan_event(image, parse_rules(_ECR_RULES, "rules")).items
    assert item.pushed_at == image.pushed_at

    gar = json.loads((EVENTS / "gar-insert.cloudevent.json").read_text())
    message = gar["data"]["message"]
    pushed = PubSubPush.model_validate(gar["data"]).message.image_event()
    assert pushed is not None
    assert pushed.pushed_at == datetime.fromisoformat(message["publishTime"]).timestamp()
    unstamped = {k: v for k, v in message.items() if k != "publishTime"}
    pushed = PubSubPush.model_validate({"message": unstamped}).message.image_event()
    assert pushed is not None and pushed.pushed_at is None


_ECR_RULES = """
rules:
  - name: any
    source: {registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com, repository: '**'}
    destinations: [{registry: ghcr.io, repository: 'mirror/{name}'}]
"""
