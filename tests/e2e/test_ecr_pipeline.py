"""ECR push → EventBridge handler → SQS → replicate worker → "GAR", with moto in server mode,
real registries on loopback and the real handlers."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from freightliner.bootstrap.lambda_root import lambda_root
from freightliner.domain.errors import ConfigurationError
from freightliner.domain.work import ItemStatus
from freightliner.harness.functions import cloud_function_client, forget_roots, load_handler
from freightliner.harness.images import Pusher
from freightliner.harness.lambda_runtime import LocalContext
from freightliner.harness.local_stack import ECR_HOST, GAR_HOST
from tests.e2e.conftest import EVENTS, Stack
from tests.support.google_fake import GoogleFake, serve_google_fake_as_adc
from tests.support.skopeo import skopeo_digest

ECR = ECR_HOST
GAR = GAR_HOST


def test_ecr_push_lands_in_gar_and_the_job_completes(stack: Stack) -> None:
    image = stack.push("team/app", "v1", seed=1)
    reply = stack.fire(stack.ecr_event(image, "team/app", "v1"))
    assert reply["status"] == "enqueued" and reply["items"] == 1
    assert stack.work() == 1
    assert skopeo_digest(f"{stack.gar.host}/my-project/apps/team/app:v1") == image.digest
    job = lambda_root().state.get_job(reply["job_id"])
    assert job is not None and job.status == "COMPLETE" and job.done == 1 and job.bytes > 50_000
    [item] = lambda_root().state.list_items(reply["job_id"])
    assert item.status is ItemStatus.DONE and item.digest == image.digest and item.attempts == 1


def test_duplicate_event_does_no_duplicate_work(stack: Stack) -> None:
    image = stack.push("team/app", "v2", seed=2)
    event = stack.ecr_event(image, "team/app", "v2")
    first = stack.fire(event)
    again = stack.fire(event)
    assert first["status"] == "enqueued"
    assert again == first  # powertools idempotency replays the stored reply
    assert stack.work() == 1
    uploads = stack.blob_uploads()
    assert uploads == 3  # config + two layers, once
    forget_roots()  # a cold start: only the DynamoDB records remember the event
    assert stack.fire(event)["status"] == "enqueued"
    assert stack.work() == 0 and stack.blob_uploads() == uploads


def test_digest_only_push_is_copied_by_digest(stack: Stack) -> None:
    image = stack.push("team/app", "v3", seed=3)
    reply = stack.fire(stack.ecr_event(image, "team/app", None))
    assert reply["status"] == "enqueued"
    stack.work()
    assert (
        skopeo_digest(f"{stack.gar.host}/my-project/apps/team/app@{image.digest}") == image.digest
    )


def test_delete_is_mirrored_where_the_rule_says(stack: Stack) -> None:
    image = stack.push("team/app", "v4", seed=4)
    stack.fire(stack.ecr_event(image, "team/app", "v4"))
    stack.work()
    event = json.loads((EVENTS / "ecr-delete.json").read_text())
    event["detail"].update(
        {"repository-name": "team/app", "image-digest": image.digest, "image-tag": "v4"}
    )
    assert stack.fire(event)["status"] == "enqueued"
    stack.work()
    deletes = [p for m, p, s in stack.gar_proxy.requests if m == "DELETE" and s == 202]
    assert deletes == [f"/v2/my-project/apps/team/app/manifests/{image.digest}"]


def test_bad_and_unmatched_events_enqueue_nothing(stack: Stack) -> None:
    image = stack.push("other/app", "v1", seed=5)
    assert stack.fire(stack.ecr_event(image, "other/app", "v1"))["status"] == "no-match"
    bad = stack.ecr_event(image, "team/app", "v1")
    bad["detail"]["image-digest"] = "sha256:nothex"
    reply = stack.fire(bad)
    assert reply["status"] == "rejected" and reply["error"] == "invalid_input"
    assert "sha256:nothex" in reply["message"]
    missing = stack.ecr_event(image, "team/app", "v1")
    del missing["detail"]["repository-name"]
    reply = stack.fire(missing)
    assert reply["status"] == "rejected" and "repository-name" in reply["message"]
    failed = stack.ecr_event(image, "team/app", "v1", result="FAILURE")
    assert stack.fire(failed)["status"] == "ignored"
    assert stack.work() == 0


def test_permanent_failure_is_recorded_and_not_sent_to_the_dlq(stack: Stack) -> None:
    image = stack.push("team/app", "v6", seed=6)
    missing = image.digest[:-4] + "0000"
    event = stack.ecr_event(image, "team/app", "v6")
    event["detail"]["image-digest"] = missing  # ECR says pushed, registry does not have it
    reply = stack.fire(event)
    stack.work()
    [item] = lambda_root().state.list_items(reply["job_id"])
    assert item.status is ItemStatus.FAILED and item.error_kind == "not_found"
    assert "not found" in (item.last_error or "")
    job = lambda_root().state.get_job(reply["job_id"])
    assert job is not None and job.status == "COMPLETED_WITH_ERRORS"
    dlq = stack.sqs.receive_message(QueueUrl=stack.resources.dlq_url, WaitTimeSeconds=0)
    assert not dlq.get("Messages")


def test_poison_message_reaches_the_dlq(stack: Stack) -> None:
    stack.sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody="{not a work item")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        stack.work()
        dlq = stack.sqs.receive_message(QueueUrl=stack.resources.dlq_url, WaitTimeSeconds=1)
        if dlq.get("Messages"):
            assert dlq["Messages"][0]["Body"] == "{not a work item"
            return
    pytest.fail("poison message never reached the DLQ")


def test_destination_503s_are_retried_until_the_copy_completes(stack: Stack) -> None:
    image = stack.push("team/app", "v7", seed=7)
    stack.gar_proxy.fail(lambda m, p: m == "PUT" and "/manifests/" in p, 503, 2)
    reply = stack.fire(stack.ecr_event(image, "team/app", "v7"))
    stack.work()
    assert skopeo_digest(f"{stack.gar.host}/my-project/apps/team/app:v7") == image.digest
    job = lambda_root().state.get_job(reply["job_id"])
    assert job is not None and job.status == "COMPLETE"


def test_replicate_now_copies_synchronously_and_explains_bad_input(stack: Stack) -> None:
    image = stack.push("team/app", "v1", seed=8)
    handler = load_handler("replicate_now").handler
    request = json.loads((EVENTS / "replicate-now.json").read_text())
    reply = handler(request, LocalContext())
    assert reply["status"] == "copied" and reply["digest"] == image.digest
    assert skopeo_digest(f"{stack.gar.host}/my-project/mirror/team/app:v1") == image.digest
    reply = handler({"source": request["source"]}, LocalContext())
    assert reply["status"] == "rejected" and "destination" in reply["message"]
    reply = handler({**request, "source": f"{ECR}/team/app:nope"}, LocalContext())
    assert reply["status"] == "rejected" and reply["error"] == "not_found"


def test_sample_sqs_event_runs_through_the_worker(stack: Stack) -> None:
    """The sample names a job this table never recorded: the item is rejected (acked, not
    returned to the queue), nothing is recorded under that job and nothing is copied."""
    event = json.loads((EVENTS / "sqs-replicate.json").read_text())
    reply = stack.replicate.handler(event, LocalContext())
    assert reply == {"batchItemFailures": []}
    assert lambda_root().state.list_items("evt-demo") == []
    assert stack.gar_proxy.requests == []


def test_gar_insert_lands_in_ecr_through_the_cloud_function(stack: Stack) -> None:
    with Pusher(stack.gar.url) as pusher:
        image = pusher.multi_platform("my-project/apps/hello", "1.0")
    event = json.loads((EVENTS / "gar-insert.cloudevent.json").read_text())
    payload = json.loads(base64.b64decode(event["data"]["message"]["data"]))
    payload["digest"] = f"{GAR}/my-project/apps/hello@{image.digest}"
    event["data"]["message"]["data"] = base64.b64encode(json.dumps(payload).encode()).decode()
    client = cloud_function_client("on_gar_push", "cloudevent")
    response = client.post(
        "/", json=event, headers={"Content-Type": "application/cloudevents+json"}
    )
    assert response.status_code == 200, response.text
    assert stack.work() == 1
    creds = ("AWS", "123456789012-auth-token")
    assert skopeo_digest(f"{stack.ecr.host}/from-gar/hello:1.0", creds) == image.digest
    ecr = boto3.client("ecr", region_name="us-east-1")
    assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]] == [
        "from-gar/hello"
    ]
    # The same message again (Pub/Sub redelivery, snake_case id this time): no new work.
    message = event["data"]["message"]
    message["message_id"] = message.pop("messageId")
    again = client.post("/", json=event, headers={"Content-Type": "application/cloudevents+json"})
    assert again.status_code == 200 and stack.work() == 0


def test_gar_delete_and_bad_messages(stack: Stack) -> None:
    client = cloud_function_client("on_gar_push", "cloudevent")
    event = json.loads((EVENTS / "gar-delete.cloudevent.json").read_text())
    response = client.post(
        "/", json=event, headers={"Content-Type": "application/cloudevents+json"}
    )
    assert response.status_code == 200  # nothing at the destination: the delete is skipped
    stack.work()
    event["data"]["message"]["data"] = base64.b64encode(b"not json").decode()
    response = client.post(
        "/", json=event, headers={"Content-Type": "application/cloudevents+json"}
    )
    assert response.status_code == 200  # acked: redelivering bad input cannot help
    assert stack.work() == 0


def test_gcp_replicate_now_over_http(stack: Stack) -> None:
    image = stack.push("team/app", "v9", seed=9)
    client = cloud_function_client("replicate_now", "http")
    body = {"source": f"{ECR}/team/app:v9", "destination": f"{GAR}/p/now/app:v9"}
    response = client.post("/", json=body)
    assert response.status_code == 200 and response.get_json()["digest"] == image.digest
    response = client.post("/", json={"source": "nope"})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_input"


TOPIC = "projects/my-project/topics/gcr"
SUBSCRIPTION = "projects/my-project/subscriptions/freightliner"


@pytest.fixture
def pubsub(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleFake]:
    """The loopback Google fake's Pub/Sub (REST, token-checked) with the `gcr` topic and a
    subscription on it; the poller's application-default credentials are a key it signs for."""
    for google in serve_google_fake_as_adc(tmp_path, monkeypatch):
        google.create_subscription(SUBSCRIPTION, TOPIC)
        monkeypatch.setenv("FREIGHTLINER_GAR_SUBSCRIPTION", SUBSCRIPTION)
        monkeypatch.setenv("FREIGHTLINER_PUBSUB_ENDPOINT", google.url)
        forget_roots()
        yield google


def test_gar_poller_acks_only_after_enqueueing(
    stack: Stack, pubsub: GoogleFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Pusher(stack.gar.url) as pusher:
        image = pusher.image("my-project/apps/polled", "2.0", [b"polled layer"])
    notification = {
        "action": "INSERT",
        "digest": f"{GAR}/my-project/apps/polled@{image.digest}",
        "tag": f"{GAR}/my-project/apps/polled:2.0",
    }
    pubsub.publish(TOPIC, json.dumps(notification).encode())
    poller = load_handler("gar_poller").handler
    schedule = json.loads((EVENTS / "schedule.json").read_text())

    # SQS unreachable: the work cannot be enqueued, so the message must not be acked.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    forget_roots()
    report = poller(schedule, LocalContext())
    assert report["pulled"] == 1 and report["retried"] == 1 and report["enqueued"] == 0
    assert pubsub.outstanding(SUBSCRIPTION) == 1  # released (deadline 0), not acked

    monkeypatch.delenv("AWS_ENDPOINT_URL_SQS")
    forget_roots()
    report = poller(schedule, LocalContext())
    assert report["pulled"] == 1 and report["enqueued"] == 1
    assert stack.work() == 1
    creds = ("AWS", "123456789012-auth-token")
    assert skopeo_digest(f"{stack.ecr.host}/from-gar/polled:2.0", creds) == image.digest
    assert pubsub.outstanding(SUBSCRIPTION) == 0  # acked once enqueued
    assert ("POST", "/token") in pubsub.requests  # the pulls carried a Google token


def test_a_registry_down_beyond_client_retries_sends_the_item_again_delayed(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message is acknowledged and the item sent again as a new delayed message with
    its attempt count: no receive count grows towards the DLQ."""
    monkeypatch.setenv("FREIGHTLINER_TIME_SCALE", str(1 / 15))  # the first 30 s delay: 2 s
    forget_roots()
    image = stack.push("team/app", "v10", seed=10)
    fault = stack.gar_proxy.fail(lambda m, p: m == "PUT" and "/manifests/" in p, 503, 1000)
    reply = stack.fire(stack.ecr_event(image, "team/app", "v10"))
    received = stack.sqs.receive_message(
        QueueUrl=stack.resources.queue_url, AttributeNames=["All"], MaxNumberOfMessages=1
    )["Messages"]
    record = {
        "messageId": received[0]["MessageId"],
        "receiptHandle": received[0]["ReceiptHandle"],
        "body": received[0]["Body"],
        "attributes": received[0]["Attributes"],
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:freightliner-work",
        "awsRegion": "us-east-1",
    }
    response = stack.replicate.handler({"Records": [record]}, LocalContext())
    assert response == {"batchItemFailures": []}  # this message is done with
    stack.sqs.delete_message(  # as Lambda deletes what the batch did not report failed
        QueueUrl=stack.resources.queue_url, ReceiptHandle=received[0]["ReceiptHandle"]
    )
    [item] = lambda_root().state.list_items(reply["job_id"])
    assert item.status is ItemStatus.PENDING and item.error_kind == "unavailable"
    # The new message is delayed (two seconds on this clock), then carries attempt 1.
    assert not stack.sqs.receive_message(QueueUrl=stack.resources.queue_url).get("Messages")
    fault.times = fault.hits  # the registry recovers
    time.sleep(2.2)
    again = stack.sqs.receive_message(QueueUrl=stack.resources.queue_url, AttributeNames=["All"])
    [message] = again["Messages"]
    assert json.loads(message["Body"])["attempt"] == 1
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    stack.sqs.change_message_visibility(
        QueueUrl=stack.resources.queue_url,
        ReceiptHandle=message["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    assert stack.work() == 1
    [item] = lambda_root().state.list_items(reply["job_id"])
    assert item.status is ItemStatus.DONE and item.attempts == 2


def test_rules_load_from_ssm_and_s3_with_errors_naming_the_source(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (Path(__file__).resolve().parents[2] / "config/rules.example.yaml").read_text()
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/freightliner/rules", Value=text, Type="String"
    )
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="config")
    s3.put_object(Bucket="config", Key="rules.yaml", Body=b"rules:\n  - name: x\n")
    monkeypatch.setenv("FREIGHTLINER_RULES", "ssm:/freightliner/rules")
    forget_roots()
    assert [rule.name for rule in lambda_root().rules.rules] == ["prod-to-gar", "gar-back-to-ecr"]
    monkeypatch.setenv("FREIGHTLINER_RULES", "s3://config/rules.yaml")
    forget_roots()
    with pytest.raises(ConfigurationError, match=r"s3://config/rules.yaml:2: rules\.0\.source"):
        lambda_root().rules  # noqa: B018 - loading is the point
    # A missing document is the deployment's error too: the event is not consumed.
    monkeypatch.setenv("FREIGHTLINER_RULES", "s3://config/missing.yaml")
    forget_roots()
    image = stack.push("team/app", "v9", seed=9)
    with pytest.raises(ConfigurationError, match=r"s3://config/missing\.yaml"):
        stack.fire(stack.ecr_event(image, "team/app", "v9"))
    assert stack.work() == 0


def test_a_later_invocation_mounts_blobs_an_earlier_one_uploaded(stack: Stack) -> None:
    first = stack.push("team/one", "v1", seed=7)
    second = stack.push("team/two", "v1", seed=7)  # the same image in another repository
    assert first.digest == second.digest
    stack.fire(stack.ecr_event(first, "team/one", "v1"))
    assert stack.work() == 1
    uploads = stack.blob_uploads()
    assert uploads == 3  # config + two layers
    forget_roots()  # a cold start: only the state table remembers where the blobs are
    event = stack.ecr_event(second, "team/two", "v1")
    event["id"] = "another-push-event"  # a push of its own, not a redelivery
    stack.fire(event)
    assert stack.work() == 1
    assert stack.blob_uploads() == uploads  # not one byte uploaded again: mounted
    mounts = [p for m, p, s in stack.gar_proxy.requests if m == "POST" and "mount=" in p]
    assert len(mounts) == 3 and all("from=my-project%2Fapps%2Fteam%2Fone" in p for p in mounts)
    assert skopeo_digest(f"{stack.gar.host}/my-project/apps/team/two:v1") == second.digest
