"""AWS credentials for the GCP Cloud Function, through the real handler (functions-framework),
moto server and the loopback Google fake (Secret Manager and the metadata server):

- keys JSON kept in GCP Secret Manager sign every call, with moto enforcing authentication
  (an unknown key is refused), and a rotated key is read again after one refusal;
- an IAM role assumed with the Google ID token the metadata server issues: one
  AssumeRoleWithWebIdentity per session, unsigned, carrying that token; a refused session is
  replaced; a silent metadata server costs at most 2 s;
- neither keys nor tokens reach a log record, a reply or an exception.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from moto.sts.models import sts_backends

from freightliner.adapters.aws.credential_sources import WebIdentityRole
from freightliner.adapters.aws.sessions import AwsClients
from freightliner.adapters.gcp import google_credentials
from freightliner.bootstrap.cloud_function_root import cloud_function_root
from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.domain.errors import FreightlinerError, Unauthorized
from freightliner.domain.secrets import SecretText, StoreKind
from freightliner.harness.aws_resources import PipelineResources, create_resources
from freightliner.harness.functions import EVENTS, cloud_function_client, forget_roots
from tests.support.faulty_proxy import FaultyProxy, Recorded, start_proxy
from tests.support.google_fake import GoogleFake, serve_google_fake_as_adc
from tests.support.leaks import everything_logged, watch_logs

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/gcp-bridge"
SECRET = "gcp-sm://projects/proj/secrets/aws-keys"
RULES = """\
version: 1
rules:
  - name: gar-to-ecr
    source: {registry: us-docker.pkg.dev, repository: "my-project/apps/**"}
    destinations:
      - registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
        repository: "from-gar/{name}"
"""
_EXPIRED = (
    b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender'
    b"</Type><Code>ExpiredToken</Code><Message>The security token included in the request is"
    b" expired</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
)


@pytest.fixture
def google(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleFake]:
    yield from serve_google_fake_as_adc(tmp_path, monkeypatch)


@pytest.fixture
def resources(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PipelineResources]:
    """The queue and table on_gar_push writes to, and a rule that matches the sample event."""
    made = create_resources(
        boto3.client("sqs", region_name="us-east-1"),
        boto3.client("dynamodb", region_name="us-east-1"),
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("FREIGHTLINER_QUEUE_URL", made.queue_url)
    monkeypatch.setenv("FREIGHTLINER_TABLE", made.table)
    monkeypatch.setenv("FREIGHTLINER_RULES", str(rules))
    forget_roots()
    try:
        yield made
    finally:
        forget_roots()


def gar_insert(message_id: str, digest_hex: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "gar-insert.cloudevent.json").read_text())
    payload = json.loads(base64.b64decode(event["data"]["message"]["data"]))
    payload["digest"] = f"us-docker.pkg.dev/my-project/apps/hello@sha256:{digest_hex * 64}"
    event["data"]["message"]["data"] = base64.b64encode(json.dumps(payload).encode()).decode()
    event["data"]["message"]["messageId"] = message_id
    event["id"] = message_id
    return event


def push(client: Any, event: dict[str, Any]) -> str:
    """Deliver the event; a 200 acknowledges it (functions-framework returns no body)."""
    response = client.post(
        "/", json=event, headers={"Content-Type": "application/cloudevents+json"}
    )
    assert response.status_code == 200, response.text
    return str(response.text)


def queued(sqs: Any, resources: PipelineResources) -> int:
    """Work items on the queue: what on_gar_push enqueued."""
    reply = sqs.receive_message(QueueUrl=resources.queue_url, MaxNumberOfMessages=10)
    return len(reply.get("Messages", []))


# -- keys in GCP Secret Manager ------------------------------------------------------------


@pytest.fixture
def enforced_auth(moto_endpoint: str) -> Iterator[Any]:
    """moto checks signatures and IAM policies from here on (until the test ends); returns an
    IAM client for an admin user, since the environment's test keys are refused now."""
    iam = boto3.client("iam")
    iam.create_user(UserName="admin")
    iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=_ALLOW_ALL)
    admin = iam.create_access_key(UserName="admin")["AccessKey"]
    httpx.post(f"{moto_endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()
    try:
        yield boto3.client(
            "iam",
            aws_access_key_id=admin["AccessKeyId"],
            aws_secret_access_key=admin["SecretAccessKey"],
        )
    finally:
        httpx.post(f"{moto_endpoint}/moto-api/reset-auth", content=b"inf").raise_for_status()


_ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def keys_json(key: dict[str, str]) -> str:
    return json.dumps(
        {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
    )


def test_keys_from_gcp_secret_manager_sign_every_call_and_a_rotated_key_is_read_again(
    google: GoogleFake,
    resources: PipelineResources,
    enforced_auth: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch_logs(caplog)
    iam = enforced_auth
    iam.create_user(UserName="gcp-bridge")
    iam.put_user_policy(UserName="gcp-bridge", PolicyName="all", PolicyDocument=_ALLOW_ALL)
    first = iam.create_access_key(UserName="gcp-bridge")["AccessKey"]
    store = RegistryClients().credentials.secret_stores.get(StoreKind.GCP, "proj")
    store.put("aws-keys", SecretText.of("aws-keys", keys_json(first)))
    monkeypatch.setenv("FREIGHTLINER_AWS_CREDENTIALS", SECRET)
    forget_roots()
    with pytest.raises(ClientError, match="InvalidClientTokenId"):  # the environment's keys
        boto3.client("sts", region_name="us-east-1").get_caller_identity()

    client = cloud_function_client("on_gar_push", "cloudevent")
    replies = [push(client, gar_insert("m-1", "a"))]
    sts = cloud_function_root().aws.client("sts", "us-east-1")
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/gcp-bridge"
    reads = [p for m, p in google.requests if p.endswith(":access")]
    assert reads == ["/v1/projects/proj/secrets/aws-keys/versions/latest:access"]  # once

    # Rotation: a new key in a new version, the old key deleted. Nothing is restarted: the
    # first call refused makes every client read the secret again. (moto answers DynamoDB
    # and SQS refusals in XML, which botocore cannot read a code from; AWS answers them
    # UnrecognizedClientException. So the refused call here is STS's.)
    second = iam.create_access_key(UserName="gcp-bridge")["AccessKey"]
    store.put("aws-keys", SecretText.of("aws-keys", keys_json(second)))
    iam.delete_access_key(UserName="gcp-bridge", AccessKeyId=first["AccessKeyId"])
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/gcp-bridge"
    assert len([p for m, p in google.requests if p.endswith(":access")]) == 2  # one re-read
    replies.append(push(client, gar_insert("m-2", "b")))
    last_used = iam.get_access_key_last_used(AccessKeyId=second["AccessKeyId"])
    assert last_used["AccessKeyLastUsed"]["ServiceName"] in ("sqs", "dynamodb")

    sqs = boto3.client(
        "sqs",
        region_name="us-east-1",
        aws_access_key_id=second["AccessKeyId"],
        aws_secret_access_key=second["SecretAccessKey"],
    )
    assert queued(sqs, resources) == 2  # both events' work items went out
    logged = everything_logged(caplog) + "".join(replies)
    for secret in (first["SecretAccessKey"], second["SecretAccessKey"]):
        assert secret not in logged


# -- a role assumed with a Google ID token -------------------------------------------------


@pytest.fixture
def aws_through_proxy(
    resources: PipelineResources, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultyProxy]:
    """Every AWS call goes through a recording proxy, and the environment holds no AWS key:
    whatever is signed was signed with what STS gave."""
    proxy, host, stop = start_proxy(moto_endpoint, record=True)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}")
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    try:
        yield proxy
    finally:
        stop()


def form(request: Recorded) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.body.decode()).items()}


def signing_key(request: Recorded) -> str:
    """The access key id in a SigV4 Authorization header."""
    return request.headers["authorization"].split("Credential=", 1)[1].split("/", 1)[0]


def test_a_role_assumed_with_the_metadata_servers_id_token(
    google: GoogleFake,
    resources: PipelineResources,
    aws_through_proxy: FaultyProxy,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch_logs(caplog)
    proxy = aws_through_proxy
    monkeypatch.setenv("FREIGHTLINER_AWS_ROLE_ARN", ROLE)
    forget_roots()
    client = cloud_function_client("on_gar_push", "cloudevent")
    replies = [push(client, gar_insert(f"m-{n}", hexdigit)) for n, hexdigit in enumerate("cd")]
    assert queued(cloud_function_root().aws.client("sqs", "us-east-1"), resources) == 2
    sts = cloud_function_root().aws.client("sts", "us-east-1")
    assert sts.get_caller_identity()["Arn"] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/gcp-bridge/freightliner"
    )

    # One token from the metadata server, for the default audience, in one unsigned
    # AssumeRoleWithWebIdentity; everything else signed with the session's key.
    assert google.identity_requests == [
        {"audience": "sts.amazonaws.com", "format": "full", "flavor": "Google"}
    ]
    assumes = [r for r in proxy.recorded if form(r).get("Action") == "AssumeRoleWithWebIdentity"]
    [assume] = assumes
    assert "authorization" not in assume.headers
    assert form(assume)["WebIdentityToken"] == google.id_tokens[0]
    assert form(assume)["RoleArn"] == ROLE
    signed = [r for r in proxy.recorded if r is not assume]
    assert len(signed) >= 5  # idempotency, job, queue, ... for two events, and the identity
    [session_key] = {signing_key(r) for r in signed}

    # AWS refuses the session (revoked, say): a new one is assumed and the call goes through.
    proxy.fail(lambda method, path: True, 400, times=1, body=_EXPIRED)
    assert sts.get_caller_identity()["Arn"].endswith("assumed-role/gcp-bridge/freightliner")
    assert len(google.identity_requests) == 2
    *_, refused, second_assume, retried = proxy.recorded
    assert signing_key(refused) == session_key
    assert form(second_assume)["WebIdentityToken"] == google.id_tokens[1]
    assert signing_key(retried) not in (session_key, "")

    logged = everything_logged(caplog) + "".join(replies)
    issued = [role for role in sts_backends[ACCOUNT]["aws"].assumed_roles]
    assert len(issued) == 2
    for secret in [*google.id_tokens, *(r.secret_access_key for r in issued)]:
        assert secret not in logged
    for role in issued:
        assert role.session_token not in logged


def test_a_custom_audience_is_asked_for_and_the_cli_signs_the_same_way(
    google: GoogleFake,
    resources: PipelineResources,
    aws_through_proxy: FaultyProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FREIGHTLINER_AWS_ROLE_ARN", ROLE)
    monkeypatch.setenv("FREIGHTLINER_AWS_WEB_IDENTITY_AUDIENCE", "https://aws.example.com")
    forget_roots()
    push(cloud_function_client("on_gar_push", "cloudevent"), gar_insert("m", "e"))
    assert queued(cloud_function_root().aws.client("sqs", "us-east-1"), resources) == 1
    assert [r["audience"] for r in google.identity_requests] == ["https://aws.example.com"]
    # The CLI's container (copy, sync) signs the same way.
    cli = RegistryClients.from_environment().aws.client("sts", "us-east-1")
    assert cli.get_caller_identity()["Arn"].endswith(":assumed-role/gcp-bridge/freightliner")


def test_a_silent_metadata_server_costs_at_most_2_s_and_names_itself(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("GCE_METADATA_HOST", host)
        role = WebIdentityRole(
            ROLE, "us-east-1", lambda: google_credentials.identity_token("sts.amazonaws.com")
        )
        started = time.monotonic()
        with pytest.raises(Unauthorized) as info:
            AwsClients(role).client("sts", "us-east-1").get_caller_identity()
        elapsed = time.monotonic() - started
    assert 1.9 <= elapsed < 3.0
    assert f"no metadata server answered at {host} within 2 s" in str(info.value)
    assert role.assume_calls == 0  # nothing reached STS


def test_a_refused_token_is_unauthorized_and_not_echoed(
    google: GoogleFake, aws_through_proxy: FaultyProxy
) -> None:
    refusal = (
        b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender'
        b"</Type><Code>InvalidIdentityToken</Code><Message>Incorrect token audience</Message>"
        b"</Error><RequestId>r-2</RequestId></ErrorResponse>"
    )
    aws_through_proxy.fail(lambda method, path: True, 400, times=1, body=refusal)
    role = WebIdentityRole(
        ROLE, "us-east-1", lambda: google_credentials.identity_token("sts.amazonaws.com")
    )
    with pytest.raises(FreightlinerError) as info:
        AwsClients(role).client("sqs", "us-east-1").list_queues()
    assert isinstance(info.value, Unauthorized)
    assert ROLE in str(info.value) and "failed: InvalidIdentityToken" in str(info.value)
    [token] = google.id_tokens
    assert token not in repr(info.value)


def test_unreadable_keys_leave_the_event_to_be_delivered_again(
    google: GoogleFake,
    resources: PipelineResources,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No key, no acknowledgement: the event is not dropped while the secret is missing."""
    watch_logs(caplog)
    monkeypatch.setenv("FREIGHTLINER_AWS_CREDENTIALS", SECRET)
    forget_roots()
    client = cloud_function_client("on_gar_push", "cloudevent")
    response = client.post(
        "/", json=gar_insert("m-1", "f"), headers={"Content-Type": "application/cloudevents+json"}
    )
    assert response.status_code == 500  # Pub/Sub delivers it again
    assert queued(boto3.client("sqs", region_name="us-east-1"), resources) == 0
    assert "secret 'aws-keys' not found in GCP project proj" in everything_logged(caplog)
