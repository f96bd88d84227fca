"""What `freightliner trace` looks for and what it shows: the target (an image, a digest or a
prefix of one, a job id, a correlation id), the identifiers a log search matches, the log
lines found, and the one timeline they make (event received, planned, gate verdict, each copy
attempt with its error, done or failed).

Log lines are read by their fields, the ones every handler writes (`level` or `severity`,
`message`, `correlation_id`, `job_id`, `item_id`, `digest` as 12 characters, and on failures
`error_kind`, `error`, `attempt`, `retry_in`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from freightliner.domain.errors import InvalidInput
from freightliner.domain.reference import Reference

SHORT_DIGEST = 12  # digests in log lines are this many hex characters
MIN_DIGEST_PREFIX = 6  # fewer hex characters match too many images to be worth a search
_DIGEST_RE = re.compile(r"^(?:(?P<algorithm>sha256|sha512):)?(?P<hex>[0-9a-f]+)$")


class TraceKind(StrEnum):
    IMAGE = "image"
    DIGEST = "digest"
    JOB = "job"
    CORRELATION = "correlation"


class TraceTarget(BaseModel):
    """What the user asked about. `kind` None: a bare word, a job id or a correlation id or a
    digest prefix; the state table decides which."""

    text: str
    kind: TraceKind | None = None
    digest_prefix: str = Field(default="", description="`sha256:<hex…>` when it is a digest")
    image: str = Field(default="", description="the image reference, without its digest")

    @classmethod
    def parse(cls, text: str, kind: TraceKind | None = None) -> TraceTarget:
        text = text.strip()
        if not text or not text.isprintable():
            raise InvalidInput("trace: give an image, a digest, a job id or a correlation id")
        if len(text) > 512:
            raise InvalidInput("trace: the target is longer than 512 characters")
        if kind is TraceKind.IMAGE or (kind is None and "/" in text):
            ref = Reference.parse(text)
            prefix = str(ref.digest) if ref.digest is not None else ""
            return cls(text=text, kind=TraceKind.IMAGE, digest_prefix=prefix, image=ref.name)
        prefix = digest_prefix(text)
        if kind is TraceKind.DIGEST or (kind is None and ":" in text and prefix):
            if not prefix:
                raise InvalidInput(
                    f"trace: {text!r} is not a digest or a prefix of one "
                    f"(sha256:<hex>, at least {MIN_DIGEST_PREFIX} hex characters)"
                )
            return cls(text=text, kind=TraceKind.DIGEST, digest_prefix=prefix)
        return cls(text=text, kind=kind, digest_prefix=prefix if kind is None else "")


def digest_prefix(text: str) -> str:
    """`sha256:<hex>` for a digest or a long enough prefix of one (bare hex is sha256), else
    ""."""
    match = _DIGEST_RE.match(text.lower())
    if match is None or len(match["hex"]) < MIN_DIGEST_PREFIX:
        return ""
    algorithm = match["algorithm"] or "sha256"
    longest = 64 if algorithm == "sha256" else 128
    if len(match["hex"]) > longest:
        return ""
    return f"{algorithm}:{match['hex']}"


def short_digest(prefix: str) -> str:
    """The part of a digest (prefix) log lines carry: at most 12 hex characters."""
    return prefix.split(":", 1)[-1][:SHORT_DIGEST]


class LogCriteria(BaseModel):
    """The identifiers a log line of the trace carries one of. Each log backend renders them
    into its own query language, escaped."""

    correlation_ids: list[str] = Field(default_factory=list)
    job_ids: list[str] = Field(default_factory=list)
    digests: list[str] = Field(
        default_factory=list, description="12-character digests (or shorter prefixes)"
    )

    @property
    def empty(self) -> bool:
        return not (self.correlation_ids or self.job_ids or self.digests)


class LogRecord(BaseModel):
    """One log line: when, where from (a log group, or Cloud Logging), and its fields."""

    at: float
    origin: str
    fields: dict[str, Any] = Field(default_factory=dict)

    def text(self, name: str) -> str:
        value = self.fields.get(name)
        return "" if value is None else str(value)

    @property
    def level(self) -> str:
        return (self.text("level") or self.text("severity")).upper()


class LogSearchResult(BaseModel):
    """A search's lines and whether they are all of them (a timeout, Ctrl-C or the row limit
    leaves a part); `notes` say what is missing and why."""

    source: str
    records: list[LogRecord] = Field(default_factory=list)
    complete: bool = True
    interrupted: bool = False
    notes: list[str] = Field(default_factory=list)


Stage = Literal[
    "received",
    "planned",
    "gate",
    "attempt",
    "retry",
    "done",
    "skipped",
    "failed",
    "blocked",
    "rejected",
    "log",
]


class TimelineEvent(BaseModel):
    at: float | None = Field(description="epoch seconds; None when the record has no time")
    stage: Stage
    source: str = Field(description="state, or the log search it came from")
    summary: str
    job_id: str = ""
    item_id: str = ""
    destination: str = ""
    error_kind: str = ""
    error: str = ""
    attempt: int | None = None
    seconds: float | None = Field(default=None, description="how long this step took")
    origin: str = Field(default="", description="the log group or function that wrote it")


class Timeline(BaseModel):
    target: str
    kind: TraceKind
    jobs: list[str] = Field(default_factory=list)
    start: float | None = None
    end: float | None = None
    events: list[TimelineEvent] = Field(default_factory=list)
    complete: bool = True
    interrupted: bool = False
    notes: list[str] = Field(default_factory=list)
