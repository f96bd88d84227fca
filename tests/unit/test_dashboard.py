"""The template's CloudWatch dashboard: valid JSON once CloudFormation substitutes it, and every
metric it reads is one the code emits, with the dimensions the code gives it (the metrics are
emitted here and read back, so a renamed metric or dimension fails this test)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

from freightliner.domain.jobs import JobRecord, JobStatus
from freightliner.domain.work import WorkItem
from freightliner.harness.lambda_runtime import LocalContext
from freightliner.harness.template import load_template
from freightliner.observability import (
    DEFAULT_NAMESPACE,
    DEFAULT_SERVICE,
    JobEndMetrics,
    MetricName,
    count_event,
    count_failure,
    count_item,
    count_rejected,
    count_retry,
    count_tree_started,
    count_verdict,
    count_woken,
)
from tests.support.emf import emitted

PSEUDO = {"AWS::Region": "eu-west-1", "AWS::StackName": "freightliner-prod"}
SUB = re.compile(r"\$\{([^}!]+)\}")
SEARCH = re.compile(r"SEARCH\('(.*)', '([\w.]+)', (\d+)\)")
SCHEMA = re.compile(r"^\{([^}]*)\}\s*(.*)$")
PROPERTY = re.compile(r'(\w+)="([^"]*)"')


def _template() -> dict[str, Any]:
    return load_template()


def _substituted(text: str, template: dict[str, Any]) -> str:
    """What Fn::Sub makes of `text`: every `${…}` names a parameter, resource or attribute."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "MetricsNamespace":
            return str(template["Parameters"][name]["Default"])
        resource = name.split(".", 1)[0]
        assert resource in template["Resources"], f"${{{name}}} names no resource"
        return f"{resource}-value"

    return SUB.sub(value, text)


def dashboard() -> dict[str, Any]:
    template = _template()
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    parsed: dict[str, Any] = json.loads(_substituted(body, template))
    return parsed


def read_metrics() -> list[tuple[str, str | None, frozenset[str] | None, str]]:
    """(namespace, metric name, dimension names or None for "any", statistic) for every
    metric and SEARCH expression on the dashboard."""
    found: list[tuple[str, str | None, frozenset[str] | None, str]] = []
    for widget in dashboard()["widgets"]:
        properties = widget["properties"]
        for entry in properties.get("metrics", []):
            if isinstance(entry[0], dict):
                match = SEARCH.fullmatch(entry[0]["expression"])
                assert match is not None, entry
                query, stat = match.group(1), match.group(2)
                schema = SCHEMA.match(query)
                if schema is not None:
                    namespace, *dimensions = schema.group(1).split(",")
                    properties_ = dict(PROPERTY.findall(schema.group(2)))
                    found.append(
                        (namespace, properties_["MetricName"], frozenset(dimensions), stat)
                    )
                else:
                    properties_ = dict(PROPERTY.findall(query))
                    found.append((properties_["Namespace"], properties_["MetricName"], None, stat))
                continue
            options = entry[-1] if isinstance(entry[-1], dict) else {}
            plain = [part for part in entry if not isinstance(part, dict)]
            namespace, name, *pairs = plain
            found.append(
                (
                    namespace,
                    name,
                    frozenset(pairs[0::2]),
                    options.get("stat", properties["stat"]),
                )
            )
    return found


@pytest.fixture
def emitted_sets(capsys: pytest.CaptureFixture[str]) -> set[tuple[str, frozenset[str]]]:
    """Every (metric, dimension set) the code emits, each kind of metric emitted once."""
    capsys.readouterr()
    item = WorkItem(
        job_id="j",
        source="src.test/team/app@sha256:" + "a" * 64,
        destination="dst.test/mirror/app:v1",
        source_digest="sha256:" + "a" * 64,
    )
    count_item(item, "done", bytes_copied=10, seconds=1.0, lag=5.0)
    count_failure("not_found")
    count_retry("unavailable")
    count_event("ecr", "enqueued")
    count_tree_started()
    count_verdict(True)
    count_woken(1)
    count_rejected("WorkItems")
    JobEndMetrics().job_finished(
        JobRecord(job_id="j", status=JobStatus.COMPLETE, created_at=1.0, finished_at=2.0)
    )
    cold = AmazonCloudWatchEMFProvider(namespace=DEFAULT_NAMESPACE, service=DEFAULT_SERVICE)
    cold.add_cold_start_metric(LocalContext())  # type: ignore[arg-type]
    return {
        (e.name, frozenset(dimensions))
        for e in emitted(capsys.readouterr().out)
        if e.namespace == DEFAULT_NAMESPACE
        for dimensions in e.dimension_sets
    }


def test_the_dashboard_body_is_json_once_substituted() -> None:
    widgets = dashboard()["widgets"]
    assert len(widgets) > 10
    assert all(w["properties"].get("region", "eu-west-1") == "eu-west-1" for w in widgets)


def test_the_dashboard_reads_only_metrics_the_code_emits_as_the_code_emits_them(
    emitted_sets: set[tuple[str, frozenset[str]]],
) -> None:
    names = {member.value for member in MetricName}
    ours = [m for m in read_metrics() if m[0] == DEFAULT_NAMESPACE]
    assert ours
    for _, name, dimensions, _ in ours:
        assert name in names, name
        if dimensions is not None:  # a SEARCH by schema, or a metric with dimensions
            assert (name, dimensions) in emitted_sets, (name, sorted(dimensions))
    others = {(namespace, name) for namespace, name, _, _ in read_metrics()} - {
        (DEFAULT_NAMESPACE, name) for _, name, _, _ in ours
    }
    assert {namespace for namespace, _ in others} == {"AWS/SQS"}


def test_the_dashboard_shows_what_an_operator_asks_first() -> None:
    shown = {(name, stat) for _, name, _, stat in read_metrics()}
    for wanted in (
        ("Items", "Sum"),
        ("Bytes", "Sum"),
        ("ReplicationLag", "p50"),
        ("ReplicationLag", "p99"),
        ("Failures", "Sum"),
        ("ApproximateNumberOfMessagesVisible", "Maximum"),
        ("ApproximateAgeOfOldestMessage", "Maximum"),
        ("JobSeconds", "p50"),
        ("GateVerdicts", "Sum"),
        ("BreakerOpen", "Sum"),
    ):
        assert wanted in shown, wanted
    queues = {
        entry[3]
        for widget in dashboard()["widgets"]
        for entry in widget["properties"].get("metrics", [])
        if entry[0] == "AWS/SQS"
    }
    assert queues == {"WorkQueue-value", "DeadLetterQueue-value", "FailedEventsQueue-value"}


def test_the_dashboard_url_is_an_output_and_the_log_level_reaches_every_function() -> None:
    template = _template()
    url = template["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
    assert "#dashboards:name=${Dashboard}" in url
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}
    assert template["Parameters"]["MetricsNamespace"]["Default"] == DEFAULT_NAMESPACE
    assert variables["POWERTOOLS_SERVICE_NAME"] == DEFAULT_SERVICE
    functions = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    ]
    for function in functions:  # none overrides the Globals' level
        own = function.get("Environment", {}).get("Variables", {})
        assert "POWERTOOLS_LOG_LEVEL" not in own and "LOG_LEVEL" not in own
