"""CloudWatch Logs Insights queries: the one place their text is written. `freightliner trace`
runs them and template.yaml saves them as query definitions (a test checks the template's
text equals what this module renders).

User input reaches a query only as an escaped string literal or an escaped regular
expression: a quote, backslash or slash in a correlation id cannot end the literal and change
the query.
"""

from __future__ import annotations

import re

from freightliner.domain.errors import InvalidInput
from freightliner.domain.trace import SHORT_DIGEST, LogCriteria

ROW_LIMIT = 10_000  # the most rows one Logs Insights query returns
FIELDS = "@timestamp, @log, @logStream, @message"  # the JSON line is parsed client side
FAILURE_FIELDS = (
    "@timestamp, @log, error_kind, error, job_id, item_id, source, destination, digest, attempt"
)
CORRELATION_PLACEHOLDER = "PASTE-CORRELATION-ID"
DIGEST_PLACEHOLDER = "PASTE-DIGEST"  # 12 characters, as digests appear in log lines


def string_literal(value: str) -> str:
    """`value` as a double-quoted Insights string: backslashes and quotes escaped; control
    characters (a newline would start a new command) refused."""
    if not value.isprintable():
        raise InvalidInput("a log query value may not hold control characters")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def prefix_regex(value: str) -> str:
    """A regular expression literal matching values that start with `value`, every regex
    metacharacter and the delimiting slash escaped."""
    if not value.isprintable():
        raise InvalidInput("a log query value may not hold control characters")
    return "/^" + re.escape(value).replace("/", "\\/") + "/"


def _member(field: str, values: list[str]) -> str:
    if len(values) == 1:
        return f"{field} = {string_literal(values[0])}"
    return f"{field} in [{', '.join(string_literal(v) for v in values)}]"


def criteria_filter(criteria: LogCriteria) -> str:
    """The `filter` expression: a line carrying any of the identifiers."""
    if criteria.empty:
        raise InvalidInput("a trace query needs a correlation id, a job id or a digest")
    parts: list[str] = []
    if criteria.correlation_ids:
        parts.append(_member("correlation_id", sorted(set(criteria.correlation_ids))))
    if criteria.job_ids:
        parts.append(_member("job_id", sorted(set(criteria.job_ids))))
    full = sorted({d for d in criteria.digests if len(d) >= SHORT_DIGEST})
    if full:
        parts.append(_member("digest", [d[:SHORT_DIGEST] for d in full]))
    parts += [
        f"digest like {prefix_regex(d)}"
        for d in sorted({d for d in criteria.digests if len(d) < SHORT_DIGEST})
    ]
    return " or ".join(parts)


def trace_query(criteria: LogCriteria, limit: int = ROW_LIMIT) -> str:
    """Every line of a trace, oldest first."""
    return (
        f"fields {FIELDS}\n"
        f"| filter {criteria_filter(criteria)}\n"
        "| sort @timestamp asc\n"
        f"| limit {limit}"
    )


def failures_query(limit: int = 1000) -> str:
    """Permanent failures (one ERROR line each, with its fields), newest first."""
    return (
        f"fields {FAILURE_FIELDS}\n"
        '| filter level = "ERROR"\n'
        "| sort @timestamp desc\n"
        f"| limit {limit}"
    )


def saved_queries() -> dict[str, str]:
    """The query definitions template.yaml saves (name -> text), with placeholders where
    a person pastes a correlation id or a 12-character digest."""
    return {
        "freightliner/trace-by-correlation-id": trace_query(
            LogCriteria(correlation_ids=[CORRELATION_PLACEHOLDER])
        ),
        "freightliner/trace-by-digest": trace_query(LogCriteria(digests=[DIGEST_PLACEHOLDER])),
        "freightliner/failures-last-hour": failures_query(),
    }
