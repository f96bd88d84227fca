"""What no log line may carry, removed from every formatted record (Lambda, the Cloud
Function and the CLI format through here): credentials, Authorization headers and bearer
tokens, user:password in URLs, AWS keys, JWTs, private-key blocks and e-mail addresses become
`[REDACTED]`, and full 64-hex digests shrink to their 12-character prefix.

A safety net under the rule that no code logs a secret (credentials are pydantic `Secret`s end
to end): it runs on the finished text or structured record, so whatever path a value took
into a log line (a message, an extra key, an appended key, an exception's text), it is caught.
Standard library only: the engine's, the CLI's and the functions' loggers all use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

REDACTED = "[REDACTED]"

# Keys whose whole value is a credential, in structured records (compared lower-case,
# with "-" as "_").
SECRET_KEYS = frozenset(
    {
        "authorization",
        "proxy_authorization",
        "password",
        "passwd",
        "passphrase",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "identitytoken",
        "registrytoken",
        "session_token",
        "secret_access_key",
        "aws_secret_access_key",
        "aws_session_token",
        "client_secret",
        "private_key",
        "api_key",
        "apikey",
        "credentials",
        "auth",
        "x_registry_auth",
    }
)

_KEYWORDS = (
    r"password|passwd|passphrase|pwd|access[_-]?token|refresh[_-]?token|id[_-]?token|"
    r"identitytoken|registrytoken|session[_-]?token|token|api[_-]?key|apikey|"
    r"(?:aws[_-]?)?secret[_-]?access[_-]?key|secret[_-]?key|client[_-]?secret|private[_-]?key|"
    r"x-registry-auth"
)

# A quote, perhaps escaped (a JSON document inside a message or a text line's key=value).
_QUOTE = r"(?:\\?[\"'])?"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # PEM private keys, whole (or to the end of the text when it was cut).
    (
        re.compile(
            r"-----BEGIN[A-Z ]*PRIVATE KEY-----.*?(?:-----END[A-Z ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        REDACTED,
    ),
    # Authorization / Proxy-Authorization headers: the scheme is kept, the credential is not.
    (
        re.compile(
            rf"(?i)(\b(?:proxy-)?authorization{_QUOTE}\s*[:=]\s*{_QUOTE})"
            r"(?:(?:bearer|basic|token|digest|aws4-hmac-sha256)\s+)?[^\s\"',;\\]+"
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]{6,}=*"), r"\1 " + REDACTED),
    # JWTs (header.payload.signature, base64url).
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # user:password@ in URLs.
    (
        re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@\"'<>]*:[^/\s@\"'<>]*@"),
        r"\1" + REDACTED + "@",
    ),
    # key=value / "key": "value" pairs naming a credential.
    (
        re.compile(
            rf"(?i)(\b(?:{_KEYWORDS}){_QUOTE}\s*[:=]\s*{_QUOTE})"
            r"(?![\\\"'\s]|\[REDACTED\])[^\s\"',;&}\\]+"
        ),
        r"\1" + REDACTED,
    ),
    # AWS access key ids and 40-character secret access keys (mixed case and digits).
    (
        re.compile(
            r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b"
        ),
        REDACTED,
    ),
    (
        re.compile(
            r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]*[A-Z])(?=[A-Za-z0-9/+]*[a-z])"
            r"(?=[A-Za-z0-9/+]*[0-9])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
        ),
        REDACTED,
    ),
    # E-mail addresses (service accounts are machine identities an audit event must name).
    (
        re.compile(
            r"[A-Za-z0-9._%+-]+@(?![A-Za-z0-9.-]*\.gserviceaccount\.com\b)"
            r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
        ),
        REDACTED,
    ),
]

_FULL_DIGEST = re.compile(r"(?<![0-9a-f])([0-9a-f]{12})[0-9a-f]{52}(?![0-9a-f])")


_AWS_KEY_PREFIXES = (
    "A3T",
    "AKIA",
    "ASIA",
    "AGPA",
    "AIDA",
    "AROA",
    "AIPA",
    "ANPA",
    "ANVA",
    "ABIA",
    "ACCA",
)
_KEYWORD_STEMS = ("pass", "pwd", "token", "key", "secret", "auth")

# Whether a pattern can match at all, by a substring test far cheaper than the regular
# expression (most log lines hold none of these): (text, its lower case) -> may match.
_GUARDS: list[Callable[[str, str], bool]] = [
    lambda text, _: "PRIVATE KEY" in text,
    lambda _, lower: "authorization" in lower,
    lambda _, lower: "bearer" in lower or "basic" in lower,
    lambda text, _: "eyJ" in text,
    lambda text, _: "://" in text and "@" in text,
    lambda text, lower: ("=" in text or ":" in text) and any(s in lower for s in _KEYWORD_STEMS),
    lambda text, _: any(prefix in text for prefix in _AWS_KEY_PREFIXES),
    lambda text, _: len(text) >= 40,
    lambda text, _: "@" in text,
]


def redact(text: str) -> str:
    """`text` with every credential-shaped part replaced and full digests shortened."""
    lower = text.lower()
    for may_match, (pattern, replacement) in zip(_GUARDS, _PATTERNS, strict=True):
        if may_match(text, lower):
            text = pattern.sub(replacement, text)
    return _FULL_DIGEST.sub(r"\1", text) if len(text) >= 64 else text


def _secret_key(key: object) -> bool:
    return isinstance(key, str) and key.lower().replace("-", "_") in SECRET_KEYS


def redact_value(value: Any) -> Any:
    """A structured record (dicts, lists, strings) with the same treatment: string values
    are redacted, the whole value of a credential-named key is replaced, any other object
    (an exception, a datetime) becomes its redacted text."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED if _secret_key(key) and item else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))  # what a JSON encoder would write with default=str
