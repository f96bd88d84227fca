"""Hostile input refused as invalid input, never a crash (issue 11, points 8, 10 and 11)."""

from __future__ import annotations

import base64
import codecs
import json
from typing import Any

import pytest

from freightliner.domain.documents import decode_document, load_document
from freightliner.domain.envelopes import SqsBatch
from freightliner.domain.errors import InvalidInput
from freightliner.domain.events import PubSubMessage, PubSubPush, StartTreeRequest
from freightliner.domain.reference import Reference, validate_host
from freightliner.domain.sync import SyncFile

DIGEST = "sha256:" + "ab" * 32
IMAGE = "us-docker.pkg.dev/proj/repo/img"


def gar_message(digest: str, tag: str | None) -> PubSubMessage:
    payload = {"action": "INSERT", "digest": digest, "tag": tag}
    data = base64.b64encode(json.dumps(payload).encode()).decode()
    return PubSubMessage.model_validate({"data": data, "messageId": "m-1"})


@pytest.mark.parametrize(
    "tag",
    [
        "us-docker.pkg.dev/proj/repo/other:1.0",  # another image
        "us-docker.pkg.dev/proj/other/img:1.0",  # another repository
        "us-docker.pkg.dev/other/repo/img:1.0",  # another project
        "europe-docker.pkg.dev/proj/repo/img:1.0",  # another location
        "ghcr.io/proj/repo/img:1.0",  # another host
        f"{IMAGE}@{DIGEST}",  # no tag at all
    ],
)
def test_a_gar_tag_naming_another_image_is_malformed(tag: str) -> None:
    message = gar_message(f"{IMAGE}@{DIGEST}", tag)
    with pytest.raises(InvalidInput, match="does not name a tag of the image"):
        message.notification().image_event("m-1")


def test_a_gar_tag_of_the_same_image_is_taken() -> None:
    event = gar_message(f"{IMAGE}@{DIGEST}", f"{IMAGE}:1.0").notification().image_event("m-1")
    assert event is not None and event.tag == "1.0" and event.repository == "proj/repo/img"


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:99999",
        "[::1::2]:5000",
        "[12345::]",
        "999.1.1.1",
        "1.2.3.256:5000",
        "xn--ls8h.com",  # punycode for an emoji: not a valid IDNA name
        "\U0001f4a9.com",
        "reg istry.io",
    ],
)
def test_hosts_an_http_client_would_refuse_are_invalid_input(host: str) -> None:
    with pytest.raises(InvalidInput, match="invalid registry host"):
        validate_host(host)
    with pytest.raises(InvalidInput):
        Reference.parse(f"{host}/team/app:v1")


@pytest.mark.parametrize(
    "host", ["127.0.0.1:1", "localhost:65535", "[::1]:5000", "xn--bcher-kva.example", "ghcr.io"]
)
def test_valid_hosts_still_pass(host: str) -> None:
    assert validate_host(host) == host


SYNC = "syncs:\n  - {name: t, source: {registry: a.io}, destination: {registry: b.io}}\n"


@pytest.mark.parametrize(
    "data",
    [
        SYNC.encode("utf-8"),
        codecs.BOM_UTF8 + SYNC.encode("utf-8"),
        SYNC.encode("utf-16"),  # with its BOM, as YAML allows
        SYNC.encode("utf-32"),
    ],
)
def test_documents_in_yaml_encodings_are_read(data: bytes) -> None:
    parsed = load_document(decode_document(data, "sync file"), "sync file", SyncFile)
    assert parsed.syncs[0].name == "t"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x00\x01\xff\xfe\x80binary", "is not UTF-8 text"),
        (SYNC.encode("utf-16-le"), "holds NUL characters"),  # UTF-16 without a BOM
        (b"a: \x00", "holds NUL characters"),
        (b" " * (4 * 1024 * 1024 + 1), "larger than 4 MiB"),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b"{a: [1, 2}", "not valid YAML/JSON"),
    ],
)
def test_unreadable_documents_fail_on_one_line(data: bytes, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as caught:
        load_document(decode_document(data, "sync file"), "sync file", SyncFile)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "event", [None, "text", 7, True, [], [{"Records": []}], {}, {"Records": "no"}]
)
def test_an_event_that_is_no_sqs_batch_has_no_records(event: Any) -> None:
    batch = SqsBatch.from_event(event)
    assert batch.records == [] and batch.malformed == 1


def test_malformed_sqs_records_are_set_aside_and_the_others_kept() -> None:
    good = {
        "messageId": "m-1",
        "receiptHandle": "r",
        "body": "{}",
        "attributes": {"ApproximateReceiveCount": "1"},
    }
    bad = [
        "text",
        None,
        {"messageId": "m-2"},
        {**good, "messageId": ""},
        {**good, "body": 5},
        {**good, "attributes": {}},
        {**good, "attributes": {"ApproximateReceiveCount": "many"}},
    ]
    batch = SqsBatch.from_event({"Records": [good, *bad, good]})
    assert batch.records == [good, good] and batch.malformed == len(bad)
    assert batch.as_event() == {"Records": [good, good]}


@pytest.mark.parametrize("data", ["text", True, 3, [], None, {"message": "x"}, {}])
def test_pubsub_data_that_is_no_envelope_is_a_validation_error(data: Any) -> None:
    with pytest.raises(ValueError):  # pydantic's ValidationError: the handlers' rejection
        PubSubPush.model_validate(data)


@pytest.mark.parametrize("event", [[], ["sync"], "nightly", 3, None, {"detail": []}, {}])
def test_start_tree_input_that_is_no_object_is_a_validation_error(event: Any) -> None:
    with pytest.raises(ValueError):
        StartTreeRequest.model_validate(event)


def test_start_tree_reads_the_sync_from_an_eventbridge_detail_or_the_event() -> None:
    assert StartTreeRequest.model_validate({"detail": {"sync": "a"}}).sync == "a"
    assert StartTreeRequest.model_validate({"sync": "b", "detail": {}}).sync == "b"
