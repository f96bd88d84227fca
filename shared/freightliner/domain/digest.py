"""Content digests: parsing, and verification while bytes stream past.

Every manifest and blob the project moves passes through a `DigestVerifier`, so corrupted or
tampered content is refused before anything that depends on it is written.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from freightliner.domain.errors import DigestMismatch, InvalidInput, Where

HEX_LENGTHS = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def short(self) -> str:
        """The 12-character prefix used in logs and summaries."""
        return self.hex[:12]

    @classmethod
    def parse(cls, text: str) -> Digest:
        match = _DIGEST_RE.match(text)
        if not match:
            raise InvalidInput(f"invalid digest {text!r}: expected algorithm:hex")
        algorithm, hexpart = match.groups()
        if algorithm not in HEX_LENGTHS:
            raise InvalidInput(f"unsupported digest algorithm {algorithm!r} in {text!r}")
        if len(hexpart) != HEX_LENGTHS[algorithm] or not re.fullmatch(r"[0-9a-f]+", hexpart):
            raise InvalidInput(
                f"invalid {algorithm} digest {text!r}: expected "
                f"{HEX_LENGTHS[algorithm]} lowercase hex characters"
            )
        return cls(algorithm, hexpart)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())


class DigestVerifier:
    """Hashes bytes as they stream and checks them against the expected digest and size."""

    def __init__(self, expected: Digest, size: int | None = None, where: Where | None = None):
        self.expected = expected
        self.size = size
        self.where = where or Where()
        self._hash = hashlib.new(expected.algorithm)
        self.seen = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.seen += len(chunk)
        if self.size is not None and self.seen > self.size:
            raise DigestMismatch(
                f"content of {self.expected} is longer than the {self.size} bytes declared",
                self.where,
            )

    def verify(self) -> None:
        if self.size is not None and self.seen != self.size:
            raise DigestMismatch(
                f"content of {self.expected} has {self.seen} bytes, {self.size} declared",
                self.where,
            )
        actual = self._hash.hexdigest()
        if actual != self.expected.hex:
            raise DigestMismatch(
                f"content hashes to {self.expected.algorithm}:{actual[:12]}…, "
                f"expected {self.expected}",
                self.where,
            )


def verify_bytes(data: bytes, expected: Digest, where: Where | None = None) -> None:
    verifier = DigestVerifier(expected, len(data), where)
    verifier.update(data)
    verifier.verify()


def read_verified(chunks: Iterable[bytes], expected: Digest, limit: int, where: Where) -> bytes:
    """A small blob's chunks joined, refused past `limit` bytes and verified against its
    digest: what every registry implementation does for `get_blob`."""
    verifier = DigestVerifier(expected, None, where)
    parts: list[bytes] = []
    for chunk in chunks:
        verifier.update(chunk)
        parts.append(chunk)
        if verifier.seen > limit:
            raise InvalidInput(f"blob larger than {limit} bytes", where)
    verifier.verify()
    return b"".join(parts)
