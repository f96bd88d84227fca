"""statemachine/scan_gate.asl.json walked state by state: neither `sam validate` nor moto checks
that every `Next` exists or that every Task retries and catches. And its wiring in the
template: substitutions, the state-machine ARN the intake functions start, their IAM."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, get_args

import pytest

from freightliner.domain import errors
from freightliner.domain.events import ScanFinished
from freightliner.environment import ENV_SCAN_GATE_ARN
from freightliner.harness.scan_gate import DEFINITION, render_definition
from tests.unit.test_template import statements, template

PLACEHOLDERS = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", DEFINITION.read_text()))
TERMINAL = {"Succeed", "Fail"}
TASK_LAMBDA = "arn:aws:states:::lambda:invoke"
GATE = {"Ref": "ScanGateStateMachine"}


def asl() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(render_definition({k: k for k in PLACEHOLDERS}))
    return loaded


def targets(state: dict[str, Any]) -> Iterator[str]:
    """Every state this one can hand over to."""
    if "Next" in state:
        yield state["Next"]
    if "Default" in state:
        yield state["Default"]
    for choice in state.get("Choices", []):
        yield choice["Next"]
    for catcher in state.get("Catch", []):
        yield catcher["Next"]


def test_every_transition_names_an_existing_state_and_every_state_is_reachable() -> None:
    definition = asl()
    states = definition["States"]
    assert definition["StartAt"] in states
    for name, state in states.items():
        for target in targets(state):
            assert target in states, f"{name} -> {target}"
    seen, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += list(targets(states[name]))
    assert seen == set(states), f"unreachable: {set(states) - seen}"


def test_every_state_ends_or_goes_on_exactly_one_way() -> None:
    for name, state in asl()["States"].items():
        kind = state["Type"]
        if kind in TERMINAL:
            assert "Next" not in state and "End" not in state, name
        elif kind == "Choice":
            assert state["Choices"] and "Default" in state and "Next" not in state, name
        else:
            assert ("Next" in state) != bool(state.get("End")), name


def test_every_task_retries_and_catches_everything() -> None:
    tasks = {n: s for n, s in asl()["States"].items() if s["Type"] == "Task"}
    assert tasks
    for name, task in tasks.items():
        assert task.get("Retry"), f"{name} has no Retry"
        assert task.get("Catch"), f"{name} has no Catch"
        assert task["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name
        for retrier in task["Retry"]:
            assert retrier["MaxAttempts"] >= 2 and retrier["BackoffRate"] > 1, name
            assert "States.ALL" not in retrier["ErrorEquals"], name


def _kinds(base: type[errors.FreightlinerError]) -> set[str]:
    found = {c.__name__ for c in base.__subclasses__()}
    for child in base.__subclasses__():
        found |= _kinds(child)
    return found


def test_lambda_tasks_retry_exactly_the_retryable_error_kinds() -> None:
    """Handlers raise the taxonomy's errors; the Lambda runtime reports the class name."""
    retryable = _kinds(errors.RetryableError)
    permanent = _kinds(errors.PermanentError)
    tasks = [s for s in asl()["States"].values() if s["Type"] == "Task"]
    lambdas = [s for s in tasks if s["Resource"].startswith(TASK_LAMBDA)]
    assert len(lambdas) == 5  # check, wait, evaluate, and the two recordings
    for task in lambdas:
        retried = {e for r in task["Retry"] for e in r["ErrorEquals"]}
        assert retryable <= retried
        assert not retried & permanent
        assert "Lambda.TooManyRequestsException" in retried


def test_failures_end_in_fail_states_that_say_why() -> None:
    states = asl()["States"]
    fails = {n: s for n, s in states.items() if s["Type"] == "Fail"}
    assert fails
    for name, state in fails.items():
        assert "CausePath" in state or "Cause" in state, name
    # Every Catch of a working task leads to the recording of the failure on the item.
    working = ["CheckScan", "EvaluateFindings", "RecordPass", "Enqueue"]
    for name in working:
        assert states[name]["Catch"][-1]["Next"] == "ReadError"
    # A Lambda error's JSON is reduced to its message; any other cause is kept as it is.
    read = states["ReadError"]
    assert {read["Default"], read["Choices"][0]["Next"]} == {"FailOnError", "ParseLambdaError"}
    assert states["ParseLambdaError"]["Next"] == "FailOnLambdaError"
    assert states["FailOnLambdaError"]["Next"] == states["FailOnError"]["Next"] == "RecordOutcome"


def test_the_machine_only_routes_and_records_through_the_job_store() -> None:
    """No DynamoDB integration: every outcome goes through RecordGateOutcome, the job store's
    one writer, and the state machine may not write the table itself."""
    states = asl()["States"]
    resources = {s.get("Resource", "") for s in states.values()}
    assert not [r for r in resources if ":dynamodb:" in r]
    for name in ("RecordPass", "RecordOutcome"):
        assert states[name]["Parameters"]["FunctionName"] == "RecordGateOutcomeFunctionArn"
    assert states["RecordPass"]["Next"] == "Enqueue"
    assert states["RecordOutcome"]["Next"] == "Recorded"  # announced only when newly recorded
    machine = template()["Resources"]["ScanGateStateMachine"]["Properties"]
    actions = {a for p in machine["Policies"] for s in p.get("Statement", []) for a in s["Action"]}
    assert not [a for a in actions if a.startswith("dynamodb:")]


def test_definition_substitutions_match_the_placeholders() -> None:
    machine = template()["Resources"]["ScanGateStateMachine"]["Properties"]
    assert set(machine["DefinitionSubstitutions"]) == PLACEHOLDERS
    assert machine["DefinitionUri"] == "statemachine/scan_gate.asl.json"
    assert machine["Type"] == "STANDARD"
    with pytest.raises(KeyError, match="no substitution for"):
        render_definition({})


def test_lambda_tasks_name_functions_of_the_template() -> None:
    resources = template()["Resources"]
    substitutions = resources["ScanGateStateMachine"]["Properties"]["DefinitionSubstitutions"]
    invoked = {
        s["Parameters"]["FunctionName"]
        for s in asl()["States"].values()
        if s.get("Resource", "").startswith(TASK_LAMBDA)
    }
    assert len(invoked) == 4
    for placeholder in invoked:
        function = substitutions[placeholder]["Fn::GetAtt"].split(".")[0]  # Function.Arn
        assert resources[function]["Type"] == "AWS::Serverless::Function"
    policies = resources["ScanGateStateMachine"]["Properties"]["Policies"]
    allowed = {
        p["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for p in policies
        if "LambdaInvokePolicy" in p
    }
    assert allowed == {substitutions[p]["Fn::GetAtt"].split(".")[0] for p in invoked}


def test_intake_functions_start_the_gate_and_may_describe_its_executions() -> None:
    resources = template()["Resources"]
    for name in ("OnEcrPushFunction", "GarPollerFunction"):
        props = resources[name]["Properties"]
        assert props["Environment"]["Variables"][ENV_SCAN_GATE_ARN] == GATE
        actions = {a: s["Resource"] for s in statements(name) for a in s["Action"]}
        assert actions["states:StartExecution"] == GATE
        described = actions["states:DescribeExecution"]["Fn::Sub"]
        assert ":execution:${ScanGateStateMachine.Name}:*" in described


def test_state_machine_actions_are_named_not_wildcards() -> None:
    machine = template()["Resources"]["ScanGateStateMachine"]["Properties"]
    for policy in machine["Policies"]:
        for statement in policy.get("Statement", []):
            assert all("*" not in action for action in statement["Action"])


def test_scan_events_reach_the_function_that_wakes_gates() -> None:
    props = template()["Resources"]["OnScanEventFunction"]["Properties"]
    patterns = [e["Properties"]["Pattern"] for e in props["Events"].values()]
    routed = {(p["source"][0], p["detail-type"][0]) for p in patterns}
    fields = ScanFinished.model_fields
    accepted_types = set(get_args(fields["detail_type"].annotation))
    accepted_sources = set(get_args(fields["source"].annotation))
    assert {t for _, t in routed} == accepted_types
    assert {s for s, _ in routed} == accepted_sources
    assert props["Environment"]["Variables"][ENV_SCAN_GATE_ARN] == GATE
