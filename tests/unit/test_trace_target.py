"""What `freightliner trace TARGET` takes TARGET for, and its --since/--timeout durations."""

from __future__ import annotations

import argparse

import pytest

from freightliner.cli.trace_command import duration
from freightliner.domain.errors import InvalidInput
from freightliner.domain.trace import TraceKind, TraceTarget, digest_prefix, short_digest

HEX = "0123456789ab" + "e" * 52


def test_an_image_with_a_digest_is_traced_by_it_and_its_repository() -> None:
    target = TraceTarget.parse(
        f"123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app@sha256:{HEX}"
    )
    assert target.kind is TraceKind.IMAGE
    assert target.digest_prefix == f"sha256:{HEX}"
    assert target.image == "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app"
    tagged = TraceTarget.parse("127.0.0.1:5000/team/app:v1")
    assert tagged.kind is TraceKind.IMAGE and tagged.digest_prefix == ""  # resolved later


def test_digests_and_prefixes() -> None:
    assert TraceTarget.parse("sha256:0123ab").kind is TraceKind.DIGEST
    assert digest_prefix("0123AB") == "sha256:0123ab"  # bare hex is sha256
    assert digest_prefix("0123a") == ""  # too short to mean one image
    assert digest_prefix("sha256:" + "a" * 65) == ""
    assert digest_prefix("sha512:" + "a" * 128) == "sha512:" + "a" * 128
    assert short_digest(f"sha256:{HEX}") == "0123456789ab"
    with pytest.raises(InvalidInput):
        TraceTarget.parse("sha256:xyz", TraceKind.DIGEST)


def test_a_bare_word_is_left_for_the_state_table_to_decide() -> None:
    word = TraceTarget.parse("6a7e3c1e-1d5b-4f0e-9a55-2f4a1c0b9d11")
    assert word.kind is None and word.digest_prefix == ""
    hexy = TraceTarget.parse("0123456789")  # a Pub/Sub message id, or a digest prefix
    assert hexy.kind is None and hexy.digest_prefix == "sha256:0123456789"
    assert TraceTarget.parse("0123456789", TraceKind.CORRELATION).digest_prefix == ""


@pytest.mark.parametrize("text", ["", "   ", "a\nb", "x" * 513])
def test_empty_control_characters_and_overlong_targets_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        TraceTarget.parse(text)


def test_durations() -> None:
    assert [duration(t) for t in ("90s", "30m", "24h", "7d")] == [90, 1800, 86400, 604800]
    for bad in ("0s", "1w", "h", "-1h", "1.5h"):
        with pytest.raises(argparse.ArgumentTypeError):
            duration(bad)
