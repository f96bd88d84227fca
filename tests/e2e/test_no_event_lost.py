"""No event is lost: the state table, the queue or the rules store is unreachable for longer
than every retry window (Lambda's two retries, as template.yaml configures them, then the
on-failure destination; Pub/Sub redelivery; the work queue's maxReceiveCount), then it comes
back, `freightliner events redrive` replays what failed, and the image is copied."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import boto3
import pytest

from freightliner.cli.main import main
from freightliner.harness.async_lambda import LambdaService, async_configs
from freightliner.harness.functions import forget_roots, gar_insert_event, post_to_on_gar_push
from freightliner.harness.images import Pusher
from freightliner.harness.local_stack import ECR_CREDS, GAR_HOST
from freightliner.harness.registry import free_port
from tests.e2e.conftest import Stack
from tests.support.skopeo import skopeo_digest

UNREACHABLE = f"http://127.0.0.1:{free_port()}"  # nothing listens there


@pytest.fixture
def lambda_service(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaService]:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # botocore's own retries, kept short
    service = LambdaService(
        stack.sqs,
        {"FailedEventsQueue": stack.resources.failed_events_url},
        handlers={"on_ecr_push": stack.on_ecr_push.handler},
    )
    with service.serving(stack.local.moto_url):
        yield service


def _outage(monkeypatch: pytest.MonkeyPatch, service: str) -> None:
    monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", UNREACHABLE)
    forget_roots()  # a cold start: clients are built again with the new endpoint


def _restore(monkeypatch: pytest.MonkeyPatch, service: str) -> None:
    monkeypatch.delenv(f"AWS_ENDPOINT_URL_{service}")
    forget_roots()


def _failed_events(stack: Stack) -> list[dict[str, object]]:
    """What waits on the failed-events queue (left there: read with visibility 0)."""
    answer = stack.sqs.receive_message(
        QueueUrl=stack.resources.failed_events_url, MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def _redrive(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    capsys.readouterr()
    assert main(["events", "redrive", "--json", *args]) == 0
    out = capsys.readouterr().out  # the replayed handlers' log lines come first
    report: dict[str, object] = json.loads(out[out.rindex('{\n  "events_replayed"') :])
    return report


def test_the_template_gives_every_async_function_two_retries_and_the_failed_events_queue() -> None:
    configs = async_configs()
    assert {"on_ecr_push", "on_scan_event", "start_tree", "gar_poller"} <= configs.keys()
    assert {(c.retries, c.on_failure) for c in configs.values()} == {(2, "FailedEventsQueue")}


@pytest.mark.parametrize("service", ["DYNAMODB", "SQS"])
def test_state_table_or_queue_down_then_redrive_copies_the_image(
    stack: Stack,
    lambda_service: LambdaService,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    service: str,
) -> None:
    image = stack.push("team/app", "v1", seed=31)
    event = stack.ecr_event(image, "team/app", "v1")
    _outage(monkeypatch, service)
    assert lambda_service.invoke_async("on_ecr_push", event) is False
    assert len(lambda_service.attempts) == 3 and "ok" not in dict(lambda_service.attempts).values()
    [record] = _failed_events(stack)
    assert record["requestPayload"] == event
    _restore(monkeypatch, service)
    assert stack.work() == 0  # nothing was enqueued while it was down

    report = _redrive(capsys)
    assert report["events_replayed"] == {"on_ecr_push": 1}
    assert lambda_service.attempts[-1] == ("on_ecr_push", "ok")
    assert _failed_events(stack) == []
    assert stack.work() == 1
    assert skopeo_digest(f"{stack.gar.host}/my-project/apps/team/app:v1") == image.digest


def test_rules_store_down_then_missing_then_fixed(
    stack: Stack,
    lambda_service: LambdaService,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Unreachable rules are retried; missing rules are a configuration error, never
    acknowledged: the event comes back to the failed-events queue until the rules exist."""
    ssm = boto3.client("ssm", region_name="us-east-1")
    monkeypatch.setenv("FREIGHTLINER_RULES", "ssm:/freightliner/rules")
    image = stack.push("team/app", "v2", seed=32)
    event = stack.ecr_event(image, "team/app", "v2")

    _outage(monkeypatch, "SSM")
    assert lambda_service.invoke_async("on_ecr_push", event) is False
    _restore(monkeypatch, "SSM")
    # back, but the parameter was never created: a configuration error, not rejected input
    assert _redrive(capsys)["events_replayed"] == {"on_ecr_push": 1}
    assert dict(lambda_service.attempts[-3:]) == {"on_ecr_push": "ConfigurationError"}
    [record] = _failed_events(stack)
    assert record["requestPayload"] == event
    assert record["responsePayload"]["errorType"] == "ConfigurationError"  # type: ignore[index]

    ssm.put_parameter(Name="/freightliner/rules", Value=stack.local.rules_text, Type="String")
    forget_roots()
    assert _redrive(capsys)["events_replayed"] == {"on_ecr_push": 1}
    assert stack.work() == 1
    assert skopeo_digest(f"{stack.gar.host}/my-project/apps/team/app:v2") == image.digest


def test_cloud_function_fails_while_the_table_is_down_and_pubsub_redelivers(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Pusher(stack.gar.url) as pusher:
        image = pusher.image("my-project/apps/tool", "1.0", [b"layer-a", b"layer-b"])
    event = gar_insert_event(
        f"{GAR_HOST}/my-project/apps/tool@{image.digest}", f"{GAR_HOST}/my-project/apps/tool:1.0"
    )
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    _outage(monkeypatch, "DYNAMODB")
    for _ in range(3):  # every delivery within the outage fails: Pub/Sub keeps the message
        assert post_to_on_gar_push(event).status_code == 500
    _restore(monkeypatch, "DYNAMODB")
    assert stack.work() == 0
    assert post_to_on_gar_push(event).status_code == 200  # the next redelivery
    assert stack.work() == 1
    assert skopeo_digest(f"{stack.ecr.host}/from-gar/tool:1.0", ECR_CREDS) == image.digest


def test_misconfigured_replicate_dead_letters_its_items_and_redrive_moves_them_back(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Items a misconfigured worker receives are neither FAILED nor dropped: past
    maxReceiveCount they wait in the DLQ, and go back to work once the setting is fixed."""
    image = stack.push("team/app", "v3", seed=33)
    assert stack.fire(stack.ecr_event(image, "team/app", "v3"))["status"] == "enqueued"
    table = stack.resources.table
    monkeypatch.delenv("FREIGHTLINER_TABLE")
    forget_roots()
    deadline = time.monotonic() + 30
    dead: list[object] = []
    while not dead and time.monotonic() < deadline:
        stack.work()
        time.sleep(1)
        answer = stack.sqs.receive_message(QueueUrl=stack.resources.dlq_url, VisibilityTimeout=0)
        dead = answer.get("Messages", [])
    assert dead, "the item never reached the DLQ"
    monkeypatch.setenv("FREIGHTLINER_TABLE", table)
    forget_roots()
    assert _redrive(capsys, "--dlq", stack.resources.dlq_url)["work_items_moved"] == 1
    assert stack.work() == 1
    assert skopeo_digest(f"{stack.gar.host}/my-project/apps/team/app:v3") == image.digest
