"""The Logs Insights query text: user input escaped into literals, the filter the handlers'
field names match, and template.yaml's saved queries equal to what `freightliner trace` runs."""

from __future__ import annotations

import re

import pytest

from freightliner.adapters.aws.insights_queries import (
    criteria_filter,
    prefix_regex,
    saved_queries,
    string_literal,
    trace_query,
)
from freightliner.domain.errors import InvalidInput
from freightliner.domain.trace import LogCriteria
from freightliner.harness.template import load_template

# An Insights double-quoted string: any character but a quote or backslash, or an escape.
_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')


def unquote(literal: str) -> str:
    assert _LITERAL.fullmatch(literal), literal
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


@pytest.mark.parametrize(
    "value",
    ["plain-id", 'a"b', "back\\slash", '\\"', 'x" or level = "ERROR', "ends with \\", "ü/ñ|#"],
)
def test_a_value_is_one_literal_that_reads_back_as_itself(value: str) -> None:
    literal = string_literal(value)
    assert unquote(literal) == value
    assert len(_LITERAL.findall(f"filter a = {literal} | x")) == 1  # the quote cannot close it


@pytest.mark.parametrize("value", ["line\nbreak", "tab\tbed", "nul\x00"])
def test_control_characters_are_refused(value: str) -> None:
    with pytest.raises(InvalidInput):
        string_literal(value)
    with pytest.raises(InvalidInput):
        prefix_regex(value)


def test_a_prefix_regex_escapes_metacharacters_and_its_slashes() -> None:
    assert prefix_regex("0123ab") == "/^0123ab/"
    regex = prefix_regex("a.b/c*(")
    assert regex == r"/^a\.b\/c\*\(/"
    body = regex[2:-1].replace("\\/", "/")
    assert re.match(body, "a.b/c*(") and not re.match(body, "aXb/c*(")


def test_the_filter_names_the_fields_the_handlers_log() -> None:
    criteria = LogCriteria(
        correlation_ids=["e-2", "e-1", "e-1"],
        job_ids=["evt-1"],
        digests=["0123456789abcdef", "fedcba"],
    )
    assert criteria_filter(criteria) == (
        'correlation_id in ["e-1", "e-2"] or job_id = "evt-1" or digest = "0123456789ab" '
        "or digest like /^fedcba/"
    )


def test_a_query_without_identifiers_is_refused() -> None:
    with pytest.raises(InvalidInput):
        trace_query(LogCriteria())


def test_the_trace_query_reads_every_line_oldest_first_within_the_row_limit() -> None:
    query = trace_query(LogCriteria(job_ids=["evt-1"]))
    assert query.splitlines() == [
        "fields @timestamp, @log, @logStream, @message",
        '| filter job_id = "evt-1"',
        "| sort @timestamp asc",
        "| limit 10000",
    ]


def test_the_templates_saved_queries_are_the_ones_the_trace_command_runs() -> None:
    resources = load_template()["Resources"]
    saved = {
        r["Properties"]["Name"]["Fn::Sub"].removeprefix("${AWS::StackName}/"): r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Logs::QueryDefinition"
    }
    expected = {name.removeprefix("freightliner/"): text for name, text in saved_queries().items()}
    assert {name: p["QueryString"] for name, p in saved.items()} == expected
    log_groups = {k for k, r in resources.items() if r["Type"] == "AWS::Logs::LogGroup"}
    for properties in saved.values():
        named = {
            g["Ref"] if "Ref" in g else g["Fn::If"][1]["Ref"] for g in properties["LogGroupNames"]
        }
        # every function's that handles images; not the ASL's own, nor the audit trail's
        assert named == log_groups - {"ScanGateLogs", "AuditLogGroup", "AuditWriterLogs"}
