"""Where oversized work payloads go, and the codec every transport with a size limit uses.

`PayloadCodec.pack(text, limit)` gives what fits under `limit` bytes: the text itself,
compressed, or a reference to the bytes in a `PayloadStore`; `unpack` reverses any of them.
Senders and readers share the format (`freightliner.domain.payloads`), so a payload packed
for SQS can also be recorded in the state table and sent again from there.
"""

from __future__ import annotations

from typing import Protocol

from freightliner.domain.digest import Digest, verify_bytes
from freightliner.domain.errors import InvalidInput
from freightliner.domain.payloads import (
    MAX_PAYLOAD,
    compressed,
    expanded,
    parse_reference,
    reference,
)


class PayloadStore(Protocol):
    def put(self, digest: Digest, data: bytes) -> int:
        """Keep `data` under its digest (long enough for the message to be read); returns
        how many parts it was stored in."""
        ...

    def get(self, digest: Digest, parts: int) -> bytes:
        """The bytes stored under `digest` (NotFound when they are gone)."""
        ...


class PayloadCodec:
    def __init__(self, store: PayloadStore | None = None) -> None:
        self._store = store

    def pack(self, text: str, limit: int) -> str:
        if len(text.encode()) <= limit:
            return text
        packed = compressed(text)
        if len(packed) <= limit:
            return packed
        if self._store is None or len(packed) > MAX_PAYLOAD:
            raise InvalidInput(
                f"payload of {len(text.encode())} bytes exceeds {limit} bytes even compressed"
            )
        data = packed.encode()
        digest = Digest.of(data)
        return reference(digest, self._store.put(digest, data))

    def unpack(self, text: str) -> str:
        stored = parse_reference(text)
        if stored is not None:
            if self._store is None:
                raise InvalidInput("payload stored by reference, and no payload store here")
            digest, parts = stored
            data = self._store.get(digest, parts)
            verify_bytes(data, digest)
            text = data.decode()
        return expanded(text)
