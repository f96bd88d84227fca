"""Generated secrets of every kind the redaction filter knows go through every logger the
project formats with (the functions' Powertools logger, which the Cloud Function shares, and
the CLI's text and JSON lines, which its CloudWatch shipping uses) in a message, its
arguments, an extra key, an appended key and an exception; none survives."""

from __future__ import annotations

import io
import json
import logging
import string
import sys
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freightliner.cli.log_setup import JsonLineFormatter, TextFormatter
from freightliner.log_redaction import REDACTED, redact
from freightliner.observability import RedactingFormatter, logger

B64 = string.ascii_letters + string.digits + "+/"
URLSAFE = string.ascii_letters + string.digits + "-_"
WORD = string.ascii_letters + string.digits


def _text(alphabet: str, low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=low, max_size=high)


def _mixed_case_b64(size: int) -> st.SearchStrategy[str]:
    """AWS secret access keys: 40 base64 characters (upper, lower and digits all present)."""
    return (
        _text(B64, size - 3, size - 3)
        .map(lambda s: "Aa1" + s)
        .flatmap(lambda s: st.permutations(list(s)).map("".join))
    )


# (the secret as it would appear, the part that must not survive)
SECRETS: st.SearchStrategy[tuple[str, str]] = st.one_of(
    _text(WORD, 8, 24).map(lambda t: (f"Authorization: Bearer {t}", t)),
    _text(B64, 8, 24).map(lambda t: (f"Authorization: Basic {t}=", t)),
    _text(WORD, 8, 24).map(lambda t: (f"bearer {t}", t)),
    st.tuples(_text(WORD, 3, 10), _text(WORD, 8, 20)).map(
        lambda up: (f"https://{up[0]}:{up[1]}@registry.example.com/v2/", up[1])
    ),
    _text(string.ascii_uppercase + string.digits, 16, 16).map(lambda k: (f"AKIA{k}", f"AKIA{k}")),
    _mixed_case_b64(40).map(lambda k: (f"secret key {k} end", k)),
    st.tuples(_text(URLSAFE, 10, 30), _text(URLSAFE, 10, 40), _text(URLSAFE, 10, 40)).map(
        lambda p: (f"eyJ{p[0]}.eyJ{p[1]}.{p[2]}", f"eyJ{p[0]}.eyJ{p[1]}.{p[2]}")
    ),
    _text(B64, 40, 120).map(
        lambda body: (
            f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----",
            body,
        )
    ),
    st.tuples(_text(WORD, 6, 12), _text(string.ascii_lowercase, 3, 10)).map(
        lambda e: (f"{e[0]}@{e[1]}.example.org", f"{e[0]}@{e[1]}.example.org")
    ),
    _text(WORD, 8, 24).map(lambda t: (f"password={t}", t)),
    _text(WORD, 8, 24).map(lambda t: (f'"client_secret": "{t}"', t)),
)
WHERE = st.sampled_from(["message", "args", "extra", "exception"])


def _powertools() -> Callable[[logging.LogRecord], str]:
    return RedactingFormatter().format


def _cli_json() -> Callable[[logging.LogRecord], str]:
    return JsonLineFormatter("c0ffee").format


def _cli_text() -> Callable[[logging.LogRecord], str]:
    return TextFormatter("c0ffee").format


FORMATTERS = {"powertools": _powertools, "cli-json": _cli_json, "cli-text": _cli_text}


def _record(shown: str, where: str) -> logging.LogRecord:
    exc_info = None
    if where == "exception":
        try:
            raise RuntimeError(f"request failed: {shown}")
        except RuntimeError:
            exc_info = sys.exc_info()
    message, args = ("copy failed: %s", (shown,)) if where == "args" else ("copy failed", None)
    if where == "message":
        message = f"copy failed: {shown}"
    record = logging.LogRecord(
        "freightliner.engine", logging.ERROR, __file__, 1, message, args, exc_info
    )
    if where == "extra":
        record.error = f"registry said {shown}"
        record.headers = {"Authorization": shown, "X-Other": shown}
    return record


@pytest.mark.parametrize("name", sorted(FORMATTERS))
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=SECRETS, where=WHERE)
def test_no_generated_secret_survives_a_formatter(
    name: str, secret: tuple[str, str], where: str
) -> None:
    shown, hidden = secret
    line = FORMATTERS[name]()(_record(shown, where))
    # The line without the secret may hold the same characters by chance (a logger name).
    assert line.count(hidden) <= FORMATTERS[name]()(_record("", where)).count(hidden)
    assert REDACTED in line or REDACTED.replace('"', '\\"') in line
    if name != "cli-text":
        json.loads(line)  # still one JSON document


@settings(max_examples=60)
@given(secret=SECRETS)
def test_the_functions_logger_redacts_appended_keys_and_messages(secret: tuple[str, str]) -> None:
    """The live Powertools logger (Lambda and the Cloud Function), as it writes."""
    shown, hidden = secret

    def written(value: str) -> str:
        buffer = io.StringIO()
        handler = logger.registered_handler
        assert isinstance(handler, logging.StreamHandler)
        previous = handler.setStream(buffer)
        try:
            logger.append_keys(repository=f"team/{value}")
            logger.warning("pushed %s", value, extra={"detail": value})
        finally:
            logger.remove_keys(["repository"])
            handler.setStream(previous)
        return buffer.getvalue()

    line = written(shown)
    assert REDACTED in line
    assert line.count(hidden) <= written("").count(hidden)  # only where it was by chance


def test_digests_and_identifiers_are_kept_readable() -> None:
    digest = "sha256:" + "0123456789abcdef" * 4
    text = redact(
        f"copied host/repo@{digest} item 0123456789abcdef0123456789abcdef sha1 {'a' * 40}"
    )
    assert text == (
        "copied host/repo@sha256:0123456789ab item 0123456789abcdef0123456789abcdef "
        f"sha1 {'a' * 40}"
    )
    assert redact("sa@proj.iam.gserviceaccount.com") == "sa@proj.iam.gserviceaccount.com"
