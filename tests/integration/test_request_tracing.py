"""Every registry request reaches the request observer: a copy between two real registries on
loopback, seen by a recording observer; and the Lambda root's observer as X-Ray subsegments."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from aws_xray_sdk import global_sdk_config
from aws_xray_sdk.core.context import Context
from aws_xray_sdk.core.recorder import AWSXRayRecorder

from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.bootstrap.request_tracing import XRayRequests
from freightliner.domain.reference import Reference
from freightliner.engine.copying.copy import Copier
from freightliner.engine.copying.models import CopyOptions
from freightliner.harness.images import Pusher, RandomBlob
from freightliner.harness.registry import LocalRegistry
from freightliner.registry.observe import RequestRecord


class Recording:
    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self._lock = threading.Lock()

    def request_finished(self, record: RequestRecord) -> None:
        with self._lock:
            self.records.append(record)


def _copy(src: str, dst: str, observer: Any) -> None:
    clients = RegistryClients(observer=observer)
    try:
        with Copier(clients, CopyOptions()) as copier:
            copier.copy(Reference.parse(src), Reference.parse(dst))
    finally:
        clients.close()


def test_a_copy_reports_each_request_with_its_operation_status_and_bytes(
    registry: LocalRegistry, dest_registry: LocalRegistry
) -> None:
    layer = RandomBlob(7, 200_000)
    with Pusher(registry.url) as pusher:
        pusher.image("team/app", "v1", [layer])
    seen = Recording()
    _copy(f"{registry.host}/team/app:v1", f"{dest_registry.host}/mirror/app:v1", seen)

    by_op = {(r.host, r.operation): r for r in seen.records}
    source, dest = registry.host, dest_registry.host
    assert by_op[(source, "manifest-get")].status == 200
    blob_gets = [r for r in seen.records if r.operation == "blob-get"]
    assert {r.host for r in blob_gets} == {source}
    assert max(r.bytes_received for r in blob_gets) == layer.size  # the layer, as read
    uploads = [r for r in seen.records if r.operation == "blob-upload"]
    assert {r.host for r in uploads} == {dest} and {r.status for r in uploads} == {201}
    assert max(r.bytes_sent for r in uploads) == layer.size
    assert by_op[(dest, "manifest-put")].status == 201
    assert by_op[(dest, "blob-upload-start")].status == 202
    # A miss is observed with its status: the destination did not have the blobs.
    assert any(r.operation == "blob-head" and r.status == 404 for r in seen.records)
    assert all(r.seconds >= 0 and r.started > 0 and not r.error for r in seen.records)


def test_a_failed_request_is_observed_with_its_error(registry: LocalRegistry) -> None:
    seen = Recording()
    clients = RegistryClients(observer=seen)
    try:
        client = clients.client(registry.host)
        retry = client.transport.retry = replace(client.transport.retry, sleep=lambda _: None)
        assert client.head_manifest("team/none", "v1") is None  # 404: missing is an answer
        registry.stop()
        try:
            client.head_manifest("team/none", "v2")
        except Exception as exc:  # the registry is gone: the client's retries give up
            assert type(exc).__name__ == "Unavailable"
        else:
            raise AssertionError("a stopped registry answered")
    finally:
        clients.close()
    assert seen.records[0].status == 404 and seen.records[0].operation == "manifest-head"
    refused = seen.records[1:]
    assert len(refused) == retry.attempts  # every attempt is a request of its own
    assert all(r.status is None and r.error == "Unavailable" for r in refused)


class _Emitted:
    """An X-Ray emitter that keeps what it would send to the daemon."""

    def __init__(self) -> None:
        self.entities: list[dict[str, Any]] = []

    def send_entity(self, entity: Any) -> None:
        self.entities.append(entity.to_dict())

    def set_daemon_address(self, address: str | None) -> None:
        pass

    @property
    def ip(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return 2000


@pytest.fixture
def _xray_enabled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The SDK on (a Tracer built outside Lambda turns it off for the whole process)."""
    monkeypatch.delenv("AWS_XRAY_SDK_ENABLED", raising=False)
    was = global_sdk_config.sdk_enabled()
    global_sdk_config.set_sdk_enabled(True)
    yield
    global_sdk_config.set_sdk_enabled(was)


@pytest.mark.usefixtures("_xray_enabled")
def test_requests_become_x_ray_subsegments_with_their_own_times(registry: LocalRegistry) -> None:
    with Pusher(registry.url) as pusher:
        pusher.image("team/app", "v1", [b"layer"])
    emitted = _Emitted()
    recorder = AWSXRayRecorder()
    recorder.configure(emitter=emitted, context=Context(), sampling=False, streaming_threshold=1000)
    observer = XRayRequests(lambda: recorder)
    segment = recorder.begin_segment("replicate")
    clients = RegistryClients(observer=observer)
    try:
        client = clients.client(registry.host)
        client.get_manifest("team/app", "v1")
        assert client.head_manifest("team/app", "missing") is None
    finally:
        clients.close()
    recorder.end_segment()

    assert segment.trace_id
    (sent,) = emitted.entities
    subsegments = sent["subsegments"]
    assert [s["annotations"]["operation"] for s in subsegments] == [
        "manifest-get",
        "manifest-head",
    ]
    got, missing = subsegments
    assert got["name"] == registry.host and got["namespace"] == "remote"
    assert got["annotations"] == {
        "registry": registry.host,
        "operation": "manifest-get",
        "status": 200,
    }
    assert got["http"]["response"]["status"] == 200 and got["http"]["request"]["method"] == "GET"
    assert got["metadata"]["freightliner"]["request"]["bytes_received"] > 0
    assert got["end_time"] >= got["start_time"] >= sent["start_time"]
    assert missing["annotations"]["status"] == 404 and missing.get("error") is True
