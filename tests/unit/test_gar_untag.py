"""A GAR tag deletion (`{"action": "DELETE", "tag": ...}` without `digest`) is an untag:
mirrored as a tag removal where a rule mirrors deletes, never a failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from freightliner.adapters.memory.registry import MemoryRegistries
from freightliner.domain.errors import InvalidInput
from freightliner.domain.events import GarNotification, PubSubMessage
from freightliner.domain.rules import parse_rules
from freightliner.domain.work import WorkItem
from freightliner.engine.events.intake import accept_event
from freightliner.engine.events.planning import plan_event
from freightliner.engine.jobs.worker import process_item
from tests.support.memory_work import MemoryQueue, MemoryRejectionLog, MemoryStateStore
from tests.support.oci_images import layer, push_image

EVENTS = Path(__file__).resolve().parents[2] / "events"
GAR = "us-docker.pkg.dev"


def rules(mirror_deletes: bool) -> str:
    return (
        "rules:\n"
        "  - name: back\n"
        f"    source: {{registry: {GAR}, repository: 'my-project/apps/*'}}\n"
        "    destinations:\n"
        "      - {registry: dst.test, repository: 'mirror/{name}'}\n"
        f"    mirror_deletes: {str(mirror_deletes).lower()}\n"
        "    scan_gate: false\n"
    )


def test_the_sample_tag_deletion_is_an_untag_event() -> None:
    cloud_event = json.loads((EVENTS / "gar-untag.cloudevent.json").read_text())
    message = PubSubMessage.model_validate(cloud_event["data"]["message"])
    event = message.notification().image_event(message.message_id)
    assert event is not None
    assert (event.action, event.registry, event.repository, event.tag, event.digest) == (
        "untag",
        GAR,
        "my-project/apps/hello",
        "1.0",
        "",
    )
    assert str(event.source) == f"{GAR}/my-project/apps/hello:1.0"


def test_an_untag_is_planned_only_where_deletes_are_mirrored() -> None:
    event = GarNotification(action="DELETE", tag=f"{GAR}/my-project/apps/hello:1.0").image_event(
        "m-1"
    )
    assert event is not None
    assert plan_event(event, parse_rules(rules(False))).items == []
    [item] = plan_event(event, parse_rules(rules(True))).items
    assert (item.action, item.destination, item.source_digest) == (
        "untag",
        "dst.test/mirror/hello:1.0",
        "",
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"action": "INSERT", "tag": f"{GAR}/my-project/apps/hello:1.0"},
        {"action": "DELETE"},
        {"action": "DELETE", "tag": f"{GAR}/my-project/apps/hello"},
    ],
)
def test_notifications_without_digest_or_tag_are_still_refused(payload: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        GarNotification.model_validate(payload).image_event("m-1")


def test_the_worker_removes_only_the_tag() -> None:
    """The job the intake records for the untag authorizes its item; the worker removes the
    destination tag and keeps the image and its other tags."""
    registries = MemoryRegistries()
    client = registries.client("dst.test")
    image = push_image(client, "mirror/hello", "1.0", [layer(1)])
    push_image(client, "mirror/hello", "keep", [layer(1)])
    mirroring = parse_rules(rules(True))
    queue, state, rejections = MemoryQueue(), MemoryStateStore(), MemoryRejectionLog()

    def untag(message_id: str) -> WorkItem:
        notification = GarNotification(action="DELETE", tag=f"{GAR}/my-project/apps/hello:1.0")
        event = notification.image_event(message_id)
        assert event is not None
        accepted = accept_event(event, mirroring, queue=queue, state=state, gate=None)
        assert accepted.outcome == "enqueued"
        item = queue.take()
        assert item is not None and item.action == "untag"
        return item

    def run(item: WorkItem) -> str:
        return process_item(
            item, registries, state, rules=lambda: mirroring, rejections=rejections
        ).outcome

    assert run(untag("m-1")) == "done"
    assert client.head_manifest("mirror/hello", "1.0") is None
    kept = client.head_manifest("mirror/hello", str(image.digest))
    assert kept is not None and kept.digest == image.digest
    assert client.head_manifest("mirror/hello", "keep") is not None
    assert run(untag("m-2")) == "skipped"  # already gone
    assert rejections.rejected == []
