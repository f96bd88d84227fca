"""The REST clients that replace Google's client libraries in what ships: Pub/Sub pull, ack
and nack bodies and errors, google-auth's transport on httpx, metadata-server credentials, and
the remaining-time shim for runtimes without a Lambda context (httpx.MockTransport: no
sockets)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from google.auth import exceptions

from freightliner.adapters.gcp.gar_auth import TOKEN_USER
from freightliner.adapters.gcp.google_rest import GoogleRest
from freightliner.adapters.gcp.google_transport import HttpxRequest, MetadataCredentials
from freightliner.adapters.gcp.pubsub_source import API_HOST, PubSubNotificationSource
from freightliner.adapters.local.static_creds import StaticCredentialProvider
from freightliner.domain.errors import Forbidden, InvalidInput, Unavailable
from freightliner.domain.secrets import Redacted
from freightliner.invocation import InvocationDeadline
from freightliner.ports.credentials import Credential

SUBSCRIPTION = "projects/my-project/subscriptions/gcr"


def source(handler: httpx.MockTransport, wait: float = 20.0) -> PubSubNotificationSource:
    token = {API_HOST: Credential(username=TOKEN_USER, password=Redacted("ya29.t"))}
    rest = GoogleRest(
        httpx.Client(transport=handler), StaticCredentialProvider(token), forbidden_hint="role"
    )
    return PubSubNotificationSource(rest, SUBSCRIPTION, "https://pubsub.test", wait)


def test_pull_decodes_messages_and_ack_and_nack_send_the_rest_bodies() -> None:
    calls: list[tuple[str, dict[str, object], str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls.append((request.url.path, body, request.headers["authorization"]))
        if request.url.path.endswith(":pull"):
            data = base64.b64encode(b'{"action": "INSERT"}').decode()
            message = {"messageId": "7", "data": data, "publishTime": "2026-01-01T00:00:00Z"}
            return httpx.Response(
                200, json={"receivedMessages": [{"ackId": "a7", "message": message}]}
            )
        return httpx.Response(200, json={})

    pubsub = source(httpx.MockTransport(answer))
    [message] = pubsub.pull(5)
    assert (message.ack_id, message.message_id, message.data) == (
        "a7",
        "7",
        b'{"action": "INSERT"}',
    )
    pubsub.ack(["a7"])
    pubsub.nack(["a8"])
    pubsub.ack([])  # nothing to send
    assert calls == [
        (f"/v1/{SUBSCRIPTION}:pull", {"maxMessages": 5}, "Bearer ya29.t"),
        (f"/v1/{SUBSCRIPTION}:acknowledge", {"ackIds": ["a7"]}, "Bearer ya29.t"),
        (
            f"/v1/{SUBSCRIPTION}:modifyAckDeadline",
            {"ackIds": ["a8"], "ackDeadlineSeconds": 0},
            "Bearer ya29.t",
        ),
    ]


def test_an_empty_pull_a_timeout_a_refusal_and_a_bad_body() -> None:
    assert source(httpx.MockTransport(lambda r: httpx.Response(200, json={}))).pull(1) == []

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no messages arrived", request=request)

    assert source(httpx.MockTransport(hang)).pull(1) == []
    denied = httpx.Response(403, json={"error": {"message": "denied"}})
    with pytest.raises(Forbidden, match="role"):
        source(httpx.MockTransport(lambda r: denied)).pull(1)
    garbled = httpx.Response(200, json={"receivedMessages": [{"ackId": "x"}]})
    with pytest.raises(Unavailable, match="unreadable"):
        source(httpx.MockTransport(lambda r: garbled)).pull(1)
    with pytest.raises(InvalidInput, match="not a Pub/Sub subscription"):
        PubSubNotificationSource(
            GoogleRest(httpx.Client(), StaticCredentialProvider({}), forbidden_hint=""), "gcr/../x"
        )


def test_google_auth_refreshes_through_httpx_from_the_metadata_server() -> None:
    seen: list[httpx.Request] = []

    def metadata(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"access_token": "ya29.md", "expires_in": 3599})

    credentials = MetadataCredentials(["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(HttpxRequest(httpx.Client(transport=httpx.MockTransport(metadata))))
    assert credentials.token == "ya29.md" and credentials.valid
    [request] = seen
    assert request.headers["metadata-flavor"] == "Google"
    assert request.url.path.endswith("/service-accounts/default/token")
    assert request.url.params["scopes"] == "https://www.googleapis.com/auth/cloud-platform"

    refused = HttpxRequest(
        httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(404)))
    )
    with pytest.raises(exceptions.RefreshError, match="HTTP 404"):
        MetadataCredentials().refresh(refused)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(exceptions.TransportError, match="ConnectError"):
        HttpxRequest(httpx.Client(transport=httpx.MockTransport(down)))("http://metadata/x")


def test_the_invocation_deadline_counts_down_from_the_function_timeout() -> None:
    now = [100.0]
    deadline = InvocationDeadline(60, clock=lambda: now[0])
    assert deadline.get_remaining_time_in_millis() == 60_000
    now[0] += 59.5
    assert deadline.get_remaining_time_in_millis() == 500
    now[0] += 10
    assert deadline.get_remaining_time_in_millis() == 0
