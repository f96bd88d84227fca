"""Work payloads that may outgrow a platform's limit (an SQS message: 256 KB; a DynamoDB
item: 400 KB), written so any reader recognises what it holds.

A payload that fits travels as it is (plain JSON, as always). One that does not is zstd
compressed and base64 encoded behind `zstd+b64:`; one still too large after that is stored
elsewhere by its sha256 and travels as `ref+sha256:<hex>:<parts>`. Reading is bounded: a
compressed payload may not expand past `MAX_PAYLOAD` (no decompression bomb).
"""

from __future__ import annotations

import base64
import binascii

import zstandard

from freightliner.domain.digest import Digest
from freightliner.domain.errors import InvalidInput

COMPRESSED = "zstd+b64:"
REFERENCE = "ref+sha256:"
MAX_PAYLOAD = 32 * 1024 * 1024
"""The largest payload a reader expands or assembles."""


def compressed(text: str) -> str:
    data = zstandard.ZstdCompressor(level=9).compress(text.encode())
    return COMPRESSED + base64.b64encode(data).decode("ascii")


def expanded(text: str) -> str:
    """A `zstd+b64:` payload's text; any other text as it is."""
    if not text.startswith(COMPRESSED):
        return text
    parts: list[bytes] = []
    size = 0
    try:
        data = base64.b64decode(text[len(COMPRESSED) :], validate=True)
        with zstandard.ZstdDecompressor().stream_reader(data) as reader:
            while piece := reader.read(1024 * 1024):
                parts.append(piece)
                size += len(piece)
                if size > MAX_PAYLOAD:
                    raise InvalidInput(f"compressed payload expands past {MAX_PAYLOAD} bytes")
    except (binascii.Error, zstandard.ZstdError) as exc:
        raise InvalidInput(f"unreadable compressed payload: {exc}") from None
    return b"".join(parts).decode()


def reference(digest: Digest, parts: int) -> str:
    return f"{REFERENCE}{digest.hex}:{parts}"


def parse_reference(text: str) -> tuple[Digest, int] | None:
    """The stored payload a `ref+sha256:` text names (digest, parts); None for other text."""
    if not text.startswith(REFERENCE):
        return None
    hexpart, _, parts = text[len(REFERENCE) :].partition(":")
    if not parts.isdigit() or not 0 < int(parts) <= 1000:
        raise InvalidInput(f"malformed payload reference {text[:80]!r}")
    return Digest.parse(f"sha256:{hexpart}"), int(parts)
