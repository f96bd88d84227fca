"""Digest verification: a corrupted byte never passes."""

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from freightliner.domain.digest import Digest, DigestVerifier, verify_bytes
from freightliner.domain.errors import DigestMismatch, InvalidInput


@given(
    data=st.binary(min_size=1, max_size=4096),
    position=st.integers(min_value=0),
    flip=st.integers(min_value=1, max_value=255),
    algorithm=st.sampled_from(["sha256", "sha512"]),
    split=st.integers(min_value=0),
)
def test_a_corrupted_byte_never_verifies(
    data: bytes, position: int, flip: int, algorithm: str, split: int
) -> None:
    expected = Digest.of(data, algorithm)
    corrupted = bytearray(data)
    corrupted[position % len(data)] ^= flip
    cut = split % (len(data) + 1)
    verifier = DigestVerifier(expected, len(data))
    verifier.update(bytes(corrupted[:cut]))
    verifier.update(bytes(corrupted[cut:]))
    with pytest.raises(DigestMismatch):
        verifier.verify()


@given(st.binary(max_size=4096), st.sampled_from(["sha256", "sha512"]))
def test_intact_content_verifies_in_any_chunking(data: bytes, algorithm: str) -> None:
    expected = Digest.of(data, algorithm)
    verifier = DigestVerifier(expected, len(data))
    for start in range(0, len(data), 7):
        verifier.update(data[start : start + 7])
    verifier.verify()


def test_size_is_checked_as_well_as_the_hash() -> None:
    data = b"hello"
    with pytest.raises(DigestMismatch, match=r"5 bytes, 4 declared|longer than"):
        verifier = DigestVerifier(Digest.of(data), 4)
        verifier.update(data)
        verifier.verify()
    with pytest.raises(DigestMismatch, match="3 bytes, 5 declared"):
        verifier = DigestVerifier(Digest.of(data), 5)
        verifier.update(b"hel")
        verifier.verify()


def test_parse_checks_algorithm_and_length() -> None:
    hexpart = hashlib.sha512(b"x").hexdigest()
    assert Digest.parse(f"sha512:{hexpart}").hex == hexpart
    with pytest.raises(InvalidInput, match="128"):
        Digest.parse(f"sha512:{hexpart[:64]}")
    with pytest.raises(InvalidInput, match="unsupported"):
        Digest.parse("blake3:" + "a" * 64)
    verify_bytes(b"x", Digest.of(b"x"))
