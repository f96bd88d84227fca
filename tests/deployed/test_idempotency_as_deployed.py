"""An intake killed midway (SIGKILL after Powertools wrote its INPROGRESS record, while the
queue hangs) does not block the event for the record's 24 h: the record expires with the
killed invocation's time limit (the Lambda context; on GCP FREIGHTLINER_FUNCTION_TIMEOUT), the
redelivery runs the intake again, and the image is copied exactly once."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
from boto3.dynamodb.conditions import Attr

from freightliner.harness.functions import EVENTS, gar_insert_event
from freightliner.harness.images import Pushed, Pusher
from freightliner.harness.local_stack import ECR_CREDS, GAR_HOST
from tests.deployed.conftest import SUBSCRIPTION, TOPIC, Shipped, gcp_function

TIME_LIMIT = "5"  # seconds the killed invocation had: its record expires then
REDELIVERY_WINDOW = 90.0  # "within minutes, not 24 h", with slack for a loaded machine
CLOUDEVENT = {"Content-Type": "application/cloudevents+json"}


def in_progress(shipped: Shipped) -> int:
    assert shipped.local.resources is not None
    table = boto3.resource("dynamodb").Table(shipped.local.resources.table)
    found = table.scan(FilterExpression=Attr("status").eq("INPROGRESS"))
    return len(found["Items"])


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def push_to_gar(shipped: Shipped, name: str) -> Pushed:
    with Pusher(shipped.gar.url, auth=shipped.gar_auth) as pusher:
        return pusher.image(f"my-project/apps/{name}", "1.0", [name.encode()])


def copied_once(shipped: Shipped, name: str, image: Pushed) -> None:
    assert shipped.work() == 1
    assert shipped.digest_in(shipped.local.ecr.url, f"from-gar/{name}", "1.0", ECR_CREDS) == (
        image.digest
    )
    assert shipped.work() == 0  # nothing else was enqueued


def test_gar_poller_killed_mid_intake_and_the_message_redelivered(
    shipped: Shipped, no_answer: str, tmp_path: Path
) -> None:
    google = shipped.google
    google.create_subscription(SUBSCRIPTION, TOPIC, ack_deadline=2)
    image = push_to_gar(shipped, "killed")
    notification = {
        "action": "INSERT",
        "digest": f"{GAR_HOST}/my-project/apps/killed@{image.digest}",
        "tag": f"{GAR_HOST}/my-project/apps/killed:1.0",
    }
    google.publish(TOPIC, json.dumps(notification).encode())
    schedule = json.loads((EVENTS / "schedule.json").read_text())
    env = {
        "FREIGHTLINER_GAR_SUBSCRIPTION": SUBSCRIPTION,
        "FREIGHTLINER_PUBSUB_ENDPOINT": google.url,
    }

    hung = shipped.deployed.start(
        "gar_poller",
        schedule,
        tmp_path,
        AWS_ENDPOINT_URL_SQS=no_answer,  # enqueueing hangs after the record is written
        AS_DEPLOYED_TIMEOUT=TIME_LIMIT,
        **env,
    )
    try:
        wait_for(lambda: in_progress(shipped) == 1, "no INPROGRESS record was written")
    finally:
        hung.kill()
        hung.wait()
    killed_at = time.monotonic()

    replies: list[dict[str, Any]] = []
    while not replies or replies[-1].get("result", {}).get("enqueued") != 1:
        assert time.monotonic() - killed_at < REDELIVERY_WINDOW, replies
        time.sleep(1)
        replies.append(shipped.deployed.invoke("gar_poller", schedule, **env))
    assert google.outstanding(SUBSCRIPTION) == 0
    copied_once(shipped, "killed", image)


def test_cloud_function_killed_mid_intake_and_the_event_redelivered(
    gcp_function_source: tuple[Path, Path], on_gcp: Shipped, no_answer: str
) -> None:
    shipped = on_gcp
    image = push_to_gar(shipped, "gcf-killed")
    event = gar_insert_event(
        f"{GAR_HOST}/my-project/apps/gcf-killed@{image.digest}",
        f"{GAR_HOST}/my-project/apps/gcf-killed:1.0",
    )
    function = gcp_function(gcp_function_source, shipped, "on_gar_push", "cloudevent")
    function.env["FREIGHTLINER_FUNCTION_TIMEOUT"] = TIME_LIMIT
    function.start(AWS_ENDPOINT_URL_SQS=no_answer)
    try:
        with contextlib.suppress(httpx.TimeoutException):  # the intake hangs on the queue
            httpx.post(function.url, json=event, headers=CLOUDEVENT, timeout=1.0)
        wait_for(lambda: in_progress(shipped) == 1, "no INPROGRESS record was written")
    finally:
        function.kill()
    killed_at = time.monotonic()

    function.start()  # a new instance; Pub/Sub redelivers the event to it until it succeeds
    statuses: list[int] = []
    try:
        while not statuses or statuses[-1] != 200:
            assert time.monotonic() - killed_at < REDELIVERY_WINDOW, statuses
            time.sleep(1)
            statuses.append(function.post(event, headers=CLOUDEVENT).status_code)
        again = function.post(event, headers=CLOUDEVENT)  # one more delivery: no new work
        assert again.status_code == 200
    finally:
        function.kill()
    copied_once(shipped, "gcf-killed", image)
