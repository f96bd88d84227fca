"""Every Lambda handler through its real entry point (functions/<name>/app.py `handler`), in a
clean virtualenv holding only the layer's requirement set and the package: ECR -> GAR into a
registry that takes only a Google access token, the GAR credentials behind a `gcp-sm://`
reference, `gar_poller` pulling real messages from the Pub/Sub fake, tree syncs, the console
copy and the scan gate's tasks driven by moto's Step Functions."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from freightliner.bootstrap.lambda_root import lambda_root
from freightliner.domain.work import gate_execution_name
from freightliner.harness.functions import EVENTS, ecr_push_event
from freightliner.harness.images import Pusher
from freightliner.harness.local_stack import ECR_CREDS, ECR_HOST, GAR_HOST
from freightliner.harness.scan_gate import LocalScanGate, scan_result
from tests.deployed.conftest import SUBSCRIPTION, TOPIC, Shipped, function_env


def test_ecr_push_reaches_a_google_token_registry_through_a_gcp_sm_key(shipped: Shipped) -> None:
    image = shipped.push_ecr("team/app", "v1", seed=1)
    event = ecr_push_event("team/app", image.digest, tag="v1")
    reply = shipped.deployed.invoke("on_ecr_push", event)
    assert reply["result"]["status"] == "enqueued", reply
    assert shipped.work() == 1
    assert (
        shipped.digest_in(shipped.gar.url, "my-project/apps/team/app", "v1", shipped.gar_auth)
        == image.digest
    )
    # The key came from Secret Manager over REST; its token from the OAuth JWT grant.
    requests = shipped.google.requests
    assert ("GET", "/v1/projects/proj/secrets/gar-key/versions/latest:access") in requests
    assert ("POST", "/token") in requests
    job = lambda_root().state.get_job(reply["result"]["job_id"])
    assert job is not None and job.status == "COMPLETE" and job.done == 1
    again = shipped.deployed.invoke("on_ecr_push", event)  # a redelivery does no new work
    assert again["result"]["job_id"] == reply["result"]["job_id"] and shipped.work() == 0


def test_gar_poller_pulls_pubsub_and_the_copy_reads_the_token_registry(
    shipped: Shipped,
) -> None:
    google = shipped.google
    google.create_subscription(SUBSCRIPTION, TOPIC)
    with Pusher(shipped.gar.url, auth=shipped.gar_auth) as pusher:
        image = pusher.image("my-project/apps/polled", "2.0", [b"polled layer"])
    notification = {
        "action": "INSERT",
        "digest": f"{GAR_HOST}/my-project/apps/polled@{image.digest}",
        "tag": f"{GAR_HOST}/my-project/apps/polled:2.0",
    }
    google.publish(TOPIC, json.dumps(notification).encode())
    google.publish(TOPIC, b"not a notification")
    schedule = json.loads((EVENTS / "schedule.json").read_text())
    env = {
        "FREIGHTLINER_GAR_SUBSCRIPTION": SUBSCRIPTION,
        "FREIGHTLINER_PUBSUB_ENDPOINT": google.url,
    }
    reply = shipped.deployed.invoke("gar_poller", schedule, **env)
    assert reply["result"]["pulled"] == 2, reply
    assert reply["result"]["enqueued"] == 1 and reply["result"]["rejected"] == 1
    assert google.outstanding(SUBSCRIPTION) == 0  # both acked: one enqueued, one unusable
    assert shipped.work() == 1
    assert (
        shipped.digest_in(shipped.local.ecr.url, "from-gar/polled", "2.0", ECR_CREDS)
        == image.digest
    )


def test_console_copy_and_a_scheduled_tree_sync(shipped: Shipped, tmp_path: Path) -> None:
    image = shipped.push_ecr("team/app", "v1", seed=2)
    request = json.loads((EVENTS / "replicate-now.json").read_text())
    request["destination"] = f"{GAR_HOST}/my-project/now/team/app:v1"
    reply = shipped.deployed.invoke("replicate_now", request)
    assert reply["result"]["digest"] == image.digest, reply
    assert shipped.digest_in(shipped.gar.url, "my-project/now/team/app", "v1", shipped.gar_auth)

    for n in range(2):
        shipped.push_ecr(f"prod/svc{n}", "v1.0.0", seed=10 + n)
    syncs = tmp_path / "syncs.yaml"
    spec = {
        "name": "prod-to-gar",
        "source": {"registry": ECR_HOST, "prefix": "prod"},
        "destination": {"registry": GAR_HOST, "prefix": "my-project/prod"},
    }
    syncs.write_text(json.dumps({"syncs": [spec]}))
    start = json.loads((EVENTS / "start-tree.json").read_text())
    reply = shipped.deployed.invoke("start_tree", start, FREIGHTLINER_SYNCS=str(syncs))
    assert reply["result"]["status"] == "started", reply
    assert shipped.work() == 2 + 2  # a page per repository, then its image
    job = lambda_root().state.get_job(reply["result"]["job_id"])
    assert job is not None and job.status == "COMPLETE" and job.done == 2
    for n in range(2):
        path = f"my-project/prod/svc{n}"
        assert shipped.digest_in(shipped.gar.url, path, "v1.0.0", shipped.gar_auth)


def test_the_scan_gate_runs_its_deployed_tasks_and_a_scan_event_ends_the_wait(
    shipped: Shipped,
) -> None:
    with LocalScanGate(shipped.local, handler=shipped.deployed.handler) as gate:
        gate_arn = {"FREIGHTLINER_SCAN_GATE_ARN": gate.arn}
        image = shipped.push_ecr("secure/app", "v1", seed=3)
        gate.script_ecr_scan(
            scan_result("secure/app", image.digest, "IN_PROGRESS"),
            scan_result("secure/app", image.digest, "COMPLETE"),
        )
        event = ecr_push_event("secure/app", image.digest, tag="v1", event_id="gated-1")
        reply = shipped.deployed.invoke("on_ecr_push", event, **gate_arn)
        assert reply["result"]["gated"] == 1, reply
        deadline = time.monotonic() + 60
        while not any(c.result for c in gate.task_calls("wait_for_scan")):  # parked its wait
            assert time.monotonic() < deadline, "the gate never waited"
            time.sleep(0.2)
        scan = json.loads((EVENTS / "ecr-scan-complete.json").read_text())
        scan["detail"].update({"repository-name": "secure/app", "image-digest": image.digest})
        woken = shipped.deployed.invoke("on_scan_event", scan, **gate_arn)
        assert woken["result"]["woken"] == 1, woken
        [item] = lambda_root().state.list_items(reply["result"]["job_id"])
        execution = gate.wait(gate_execution_name(item.source_digest, item.destination))
        assert execution["status"] == "SUCCEEDED"
        names = {call.function for call in gate.calls}
        assert names == {"check_scan", "wait_for_scan", "evaluate_findings", "record_gate_outcome"}
        assert all(call.error is None for call in gate.calls)
    assert shipped.work() == 1
    assert (
        shipped.digest_in(shipped.gar.url, "my-project/secure/secure/app", "v1", shipped.gar_auth)
        == image.digest
    )


def test_the_function_environment_holds_only_what_ships(lambda_layer: tuple[Path, Path]) -> None:
    """The handlers above ran without dev packages: nothing here could mask a missing one."""
    python, layer = lambda_layer
    probe = (
        "import importlib.util as u, json, sys; sys.path.insert(0, sys.argv[1]); "
        "names = ['requests', 'google.cloud', 'grpc', 'moto', 'pytest', 'functions_framework', "
        "'freightliner.harness', 'freightliner', 'google.auth', 'httpx']; "
        "print(json.dumps({n: u.find_spec(n) is not None for n in names}))"
    )
    found = subprocess.run(
        [str(python), "-c", probe, str(layer)],
        capture_output=True,
        text=True,
        check=True,
        env=function_env("probe"),
    )
    assert json.loads(found.stdout) == {
        "requests": False,
        "google.cloud": False,
        "grpc": False,
        "moto": False,
        "pytest": False,
        "functions_framework": False,
        "freightliner.harness": False,
        "freightliner": True,
        "google.auth": True,
        "httpx": True,
    }


def test_audit_lines_reach_the_audit_group_through_the_shipped_writer(shipped: Shipped) -> None:
    """The subscription filter's delivery (base64 gzip JSON) through `audit_writer` as it
    ships, into the audit log group on moto."""
    import base64  # noqa: PLC0415
    import gzip  # noqa: PLC0415

    import boto3  # noqa: PLC0415

    group = "/freightliner/audit"
    line = json.dumps({"log_type": "AUDIT", "audit": "copy", "outcome": "done", "digest": "ab" * 6})
    document = {
        "messageType": "DATA_MESSAGE",
        "logGroup": "/aws/lambda/replicate",
        "logStream": "s",
        "logEvents": [{"id": "1", "timestamp": int(time.time() * 1000), "message": line}],
    }
    event = {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(document).encode()))}}
    event["awslogs"]["data"] = event["awslogs"]["data"].decode()  # type: ignore[attr-defined]
    reply = shipped.deployed.invoke("audit_writer", event, FREIGHTLINER_AUDIT_LOG_GROUP=group)
    assert reply["result"]["status"] == "written" and reply["result"]["events"] == 1, reply
    logs = boto3.client("logs", region_name="us-east-1")
    [stream] = logs.describe_log_streams(logGroupName=group)["logStreams"]
    events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])
    assert [e["message"] for e in events["events"]] == [line]
