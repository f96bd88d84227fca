"""Work payloads past a platform limit: compressed behind a marker, else stored by
reference; read back bounded and verified (pure: a dict stands in for the table)."""

from __future__ import annotations

import base64
import random

import pytest
import zstandard

from freightliner.adapters.aws.sqs_queue import BODY_LIMIT, _batches
from freightliner.domain.digest import Digest
from freightliner.domain.errors import DigestMismatch, InvalidInput
from freightliner.domain.payloads import COMPRESSED, MAX_PAYLOAD, REFERENCE, expanded
from freightliner.domain.work import WorkItem
from freightliner.ports.payloads import PayloadCodec


class DictStore:
    def __init__(self) -> None:
        self.stored: dict[Digest, bytes] = {}

    def put(self, digest: Digest, data: bytes) -> int:
        self.stored[digest] = data
        return 1

    def get(self, digest: Digest, parts: int) -> bytes:
        return self.stored[digest]


def item(platforms: list[str]) -> WorkItem:
    digest = str(Digest.of(b"x"))
    return WorkItem(
        job_id="j",
        source=f"a.io/app@{digest}",
        destination="b.io/app:v1",
        source_digest=digest,
        platforms=platforms,
    )


def test_small_payloads_travel_as_they_are_and_large_ones_compressed() -> None:
    codec = PayloadCodec()
    assert codec.pack('{"a": 1}', 100) == '{"a": 1}'
    text = '{"platforms": [' + ",".join(f'"linux/arch{n}"' for n in range(20_000)) + "]}"
    packed = codec.pack(text, 100_000)
    assert packed.startswith(COMPRESSED) and len(packed) <= 100_000
    assert codec.unpack(packed) == text


def test_what_does_not_fit_even_compressed_goes_by_reference_and_is_verified() -> None:
    store = DictStore()
    codec = PayloadCodec(store)
    text = random.Random(1).randbytes(100_000).hex()  # compresses to half: not enough
    packed = codec.pack(text, 50_000)
    assert packed.startswith(REFERENCE)
    assert codec.unpack(packed) == text
    [digest] = store.stored
    store.stored[digest] = store.stored[digest][:-1] + b"A"
    with pytest.raises(DigestMismatch):
        codec.unpack(packed)
    with pytest.raises(InvalidInput, match="exceeds"):
        PayloadCodec().pack(text, 50_000)  # no store: refused, never truncated


def test_a_compressed_payload_cannot_expand_past_the_bound() -> None:
    bomb = zstandard.ZstdCompressor().compress(b"{" + b" " * (MAX_PAYLOAD + 10))
    with pytest.raises(InvalidInput, match="expands past"):
        expanded(COMPRESSED + base64.b64encode(bomb).decode())
    with pytest.raises(InvalidInput, match="unreadable"):
        expanded(COMPRESSED + "not base64!")
    with pytest.raises(InvalidInput, match="malformed"):
        PayloadCodec(DictStore()).unpack(REFERENCE + "ab:0")


def test_sqs_batches_stay_under_the_batch_byte_limit() -> None:
    big = (item([]), "x" * 100_000)
    small = (item([]), "y" * 100)
    batches = _batches([big, big, big, *[small] * 25])
    assert [len(b) for b in batches] == [2, 10, 10, 6]  # the third big one with 9 small
    assert all(sum(len(body) for _, body in b) <= BODY_LIMIT for b in batches)
