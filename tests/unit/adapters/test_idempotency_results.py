"""An intake's result kept for its event's redeliveries fits a DynamoDB item whatever its
size: as it is when small (as records always were), packed when large (a plan whose items
name thousands of platforms), and records of either kind read back."""

from __future__ import annotations

import json
import random

from pydantic import BaseModel

from freightliner.adapters.aws.idempotency import PACKED, RESULT_LIMIT, _packing_serializer
from freightliner.domain.payloads import COMPRESSED, REFERENCE
from freightliner.ports.payloads import PayloadCodec
from tests.unit.test_work_payloads import DictStore


class Result(BaseModel):
    outcome: str
    platforms: list[str]


def stored(data: dict[str, object]) -> dict[str, object]:
    """What Powertools writes and reads back: the dict as JSON text."""
    text = json.dumps(data, sort_keys=True)
    assert len(text.encode()) <= RESULT_LIMIT + 100
    loaded: dict[str, object] = json.loads(text)
    return loaded


def test_a_small_result_is_kept_as_it_is() -> None:
    serializer = _packing_serializer(Result, PayloadCodec())
    result = Result(outcome="enqueued", platforms=["linux/amd64"])
    data = stored(serializer.to_dict(result))
    assert data == result.model_dump(mode="json")
    assert serializer.from_dict(data) == result


def test_a_large_result_is_compressed_and_one_that_compresses_badly_goes_by_reference() -> None:
    store = DictStore()
    serializer = _packing_serializer(Result, PayloadCodec(store))
    regular = Result(outcome="enqueued", platforms=[f"linux/arch{n}" for n in range(40_000)])
    data = stored(serializer.to_dict(regular))
    assert str(data[PACKED]).startswith(COMPRESSED) and not store.stored
    assert serializer.from_dict(data) == regular
    rng = random.Random(3)
    scattered = Result(
        outcome="enqueued", platforms=[rng.randbytes(8).hex() for _ in range(40_000)]
    )
    data = stored(serializer.to_dict(scattered))
    assert str(data[PACKED]).startswith(REFERENCE) and len(store.stored) == 1
    assert serializer.from_dict(data) == scattered


def test_a_record_written_before_results_were_packed_reads_back() -> None:
    serializer = _packing_serializer(Result, PayloadCodec())
    legacy = {"outcome": "duplicate", "platforms": []}  # what the pydantic serializer wrote
    assert serializer.from_dict(legacy) == Result(outcome="duplicate", platforms=[])
