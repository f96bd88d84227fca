"""The Cloud Function as `make gcp-source` assembles it, served by functions-framework over
real HTTP from a virtualenv built from its requirements.txt only: a Pub/Sub CloudEvent becomes
work on the queue, with AWS reached through a role assumed with the instance's Google ID token
and Artifact Registry through the metadata server's access token (no key anywhere)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from freightliner.harness.functions import gar_insert_event
from freightliner.harness.images import Pusher
from freightliner.harness.local_stack import ECR_CREDS, ECR_HOST, GAR_HOST
from tests.deployed.conftest import CloudFunction, Shipped, gcp_function
from tests.support.google_fake import TOKEN_PATH


@pytest.fixture
def on_gar_push(gcp_function_source: tuple[Path, Path], on_gcp: Shipped) -> Iterator[CloudFunction]:
    function = gcp_function(gcp_function_source, on_gcp, "on_gar_push", "cloudevent")
    try:
        yield function
    finally:
        function.kill()


def test_a_pubsub_cloudevent_over_http_becomes_a_copy_to_ecr(
    on_gcp: Shipped, on_gar_push: CloudFunction, tmp_path: Path
) -> None:
    with Pusher(on_gcp.gar.url, auth=on_gcp.gar_auth) as pusher:
        image = pusher.image("my-project/apps/hello", "1.0", [b"gcp layer"])
    event = gar_insert_event(
        f"{GAR_HOST}/my-project/apps/hello@{image.digest}", f"{GAR_HOST}/my-project/apps/hello:1.0"
    )
    on_gar_push.output = tmp_path / "stdout.jsonl"
    on_gar_push.start(GOOGLE_CLOUD_PROJECT="my-project", PYTHONUNBUFFERED="1")
    trace = "0af7651916cd43dd8448eb211c80319c"
    reply = on_gar_push.post(
        event,
        headers={
            "Content-Type": "application/cloudevents+json",
            "traceparent": f"00-{trace}-b7ad6b7169203331-01",
        },
    )
    assert reply.status_code == 200, reply.text  # a CloudEvent function answers "OK" or fails
    # AWS through the role, with an ID token for sts.amazonaws.com from the metadata server.
    assert [r["audience"] for r in on_gcp.google.identity_requests] == ["sts.amazonaws.com"]
    assert on_gcp.work() == 1
    assert on_gcp.digest_in(on_gcp.local.ecr.url, "from-gar/hello", "1.0", ECR_CREDS) == (
        image.digest
    )
    bad = dict(event, data={"message": {"data": "bm90IGpzb24=", "messageId": "2"}})
    refused = on_gar_push.post(bad, headers={"Content-Type": "application/cloudevents+json"})
    assert refused.status_code == 200 and on_gcp.work() == 0  # acked: redelivery cannot help
    # Its log lines as Cloud Logging reads them: severity, the request's trace, metrics as
    # lines, and nothing of the first request's keys in the second's.
    lines = [
        json.loads(line)
        for line in on_gar_push.output.read_text().splitlines()
        if line.startswith("{")
    ]
    first = [
        line
        for line in lines
        if line.get("correlation_id") == event["data"]["message"]["messageId"]
    ]
    assert first and all(line["severity"] == line["level"] for line in lines)
    traced = f"projects/my-project/traces/{trace}"
    assert all(line["logging.googleapis.com/trace"] == traced for line in first)
    assert any(line.get("metric") for line in lines)
    [rejected] = [line for line in lines if line["severity"] == "ERROR"]
    assert "logging.googleapis.com/trace" not in rejected and "digest" not in rejected


def test_replicate_now_copies_from_gar_with_the_metadata_servers_token(
    gcp_function_source: tuple[Path, Path], on_gcp: Shipped
) -> None:
    with Pusher(on_gcp.gar.url, auth=on_gcp.gar_auth) as pusher:
        image = pusher.image("my-project/apps/now", "1.0", [b"now layer"])
    function = gcp_function(gcp_function_source, on_gcp, "replicate_now", "http").start()
    try:
        body = {
            "source": f"{GAR_HOST}/my-project/apps/now:1.0",
            "destination": f"{ECR_HOST}/mirror/now:1.0",
        }
        reply = function.post(body)
    finally:
        function.kill()
    assert reply.status_code == 200, reply.text
    assert reply.json()["digest"] == image.digest
    assert ("GET", TOKEN_PATH) in on_gcp.google.requests  # GAR's token: the metadata server's
    assert on_gcp.digest_in(on_gcp.local.ecr.url, "mirror/now", "1.0", ECR_CREDS) == image.digest
