"""template.yaml checks that neither `sam validate` nor cfn-lint make."""

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from freightliner.adapters.aws.table_schema import TABLE_DEFINITION, TTL_ATTRIBUTE
from freightliner.environment import DEFAULT_WEB_IDENTITY_AUDIENCE
from freightliner.harness.aws_resources import MAX_RECEIVE_COUNT
from freightliner.harness.template import load_template

ROOT = Path(__file__).resolve().parents[2]


@cache  # read-only in every test
def template() -> dict[str, Any]:
    return load_template()


def test_state_table_matches_the_schema_the_code_uses() -> None:
    table = template()["Resources"]["StateTable"]["Properties"]
    for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"):
        assert table[key] == TABLE_DEFINITION[key], key
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_queue_visibility_covers_six_replicate_timeouts() -> None:
    resources = template()["Resources"]
    timeout = resources["ReplicateFunction"]["Properties"]["Timeout"]
    queue = resources["WorkQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert int(queue["RedrivePolicy"]["maxReceiveCount"]) >= MAX_RECEIVE_COUNT


def test_every_function_handler_exists_and_no_action_is_a_wildcard() -> None:
    resources = template()["Resources"]
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    assert functions
    for name, function in functions.items():
        props = function["Properties"]
        module, _, attribute = props["Handler"].partition(".")
        source = ROOT / props["CodeUri"] / f"{module}.py"
        assert source.exists(), name
        assert f"def {attribute}(" in source.read_text(), name
        for _, statement in policy_statements(props.get("Policies", [])):
            assert all("*" not in action for action in statement["Action"]), name


def policy_statements(
    policies: list[Any], condition: str | None = None
) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """Every statement a function's Policies can grant, with the condition it is granted
    under: inline statements, both branches of an `!If`, and the managed policies of this
    template that a `!Ref` names. SAM policy templates and AWS managed policies are skipped."""
    resources = template()["Resources"]
    for policy in policies:
        if not isinstance(policy, dict):
            continue  # an AWS managed policy's name or ARN
        if "Fn::If" in policy:
            name, *branches = policy["Fn::If"]
            for branch in branches:
                if branch != {"Ref": "AWS::NoValue"}:
                    yield from policy_statements([branch], name)
        elif "Ref" in policy:
            managed = resources[policy["Ref"]]
            assert managed["Type"] == "AWS::IAM::ManagedPolicy", policy
            document = managed["Properties"]["PolicyDocument"]
            for statement in document["Statement"]:
                yield managed.get("Condition", condition), statement
        else:
            for statement in policy.get("Statement", []):
                yield condition, statement


def statements(function: str) -> list[dict[str, Any]]:
    policies = template()["Resources"][function]["Properties"]["Policies"]
    return [statement for _, statement in policy_statements(policies)]


def test_tree_schedules_can_invoke_start_tree_and_jobs_can_announce_their_end() -> None:
    resources = template()["Resources"]
    assert resources["TreeScheduleGroup"]["Properties"]["Name"] == "freightliner-trees"
    role = resources["TreeSchedulerRole"]["Properties"]
    [statement] = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["lambda:InvokeFunction"]
    assert statement["Resource"] == {"Fn::GetAtt": "StartTreeFunction.Arn"}
    [dead_letter] = role["Policies"][1]["PolicyDocument"]["Statement"]  # undeliverable runs
    assert dead_letter["Action"] == ["sqs:SendMessage"]
    assert dead_letter["Resource"] == {"Fn::GetAtt": "FailedEventsQueue.Arn"}
    for name in ("ReplicateFunction", "StartTreeFunction"):
        actions = [action for statement in statements(name) for action in statement["Action"]]
        assert "events:PutEvents" in actions, name
        # start_tree lists repositories; replicate lists each one's images as it expands it
        listing = (
            "ecr:DescribeImages" if name == "ReplicateFunction" else "ecr:DescribeRepositories"
        )
        assert listing in actions, name
    outputs = template()["Outputs"]
    assert {"StartTreeFunctionArn", "TreeSchedulerRoleArn"} <= outputs.keys()


def test_functions_that_reach_registries_may_read_credential_secrets() -> None:
    """aws-sm:// references in the registries config resolve inside these functions."""
    for name in ("ReplicateFunction", "ReplicateNowFunction", "StartTreeFunction"):
        [reads] = [s for s in statements(name) if s["Action"] == ["secretsmanager:GetSecretValue"]]
        assert "${CredentialSecretsPrefix}*" in str(reads["Resource"]), name


def test_cross_account_roles_are_assumable_exactly_as_listed_and_only_when_listed() -> None:
    """Registries may name an ECR role_arn; the functions that copy, list or read its scans
    assume it."""
    parameter = template()["Parameters"]["CrossAccountRoleArns"]
    assert parameter["Type"] == "CommaDelimitedList" and parameter["Default"] == ""
    assert template()["Conditions"]["HasCrossAccountRoles"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": [",", {"Ref": "CrossAccountRoleArns"}]}, ""]}]
    }
    functions = {
        name
        for name, resource in template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    copying = {"ReplicateFunction", "ReplicateNowFunction", "StartTreeFunction"}
    scanning = {"CheckScanFunction", "EvaluateFindingsFunction"}  # the scan gate's ECR reads
    for name in functions:
        policies = template()["Resources"][name]["Properties"]["Policies"]
        grants = [
            (condition, statement)
            for condition, statement in policy_statements(policies)
            if "sts:AssumeRole" in statement["Action"]
        ]
        if name not in copying | scanning:
            assert grants == [], name
            continue
        [(condition, statement)] = grants
        assert condition == "HasCrossAccountRoles", name
        assert statement["Effect"] == "Allow" and statement["Action"] == ["sts:AssumeRole"]
        assert statement["Resource"] == {"Ref": "CrossAccountRoleArns"}, name


def test_the_gcp_functions_role_trusts_one_service_accounts_id_tokens() -> None:
    """FREIGHTLINER_AWS_ROLE_ARN on GCP: no AWS key there, the role trusts Google ID tokens
    of one service account for the audience the functions ask for."""
    parameters = template()["Parameters"]
    assert parameters["GcpServiceAccountId"]["Default"] == ""
    assert parameters["GcpTokenAudience"]["Default"] == DEFAULT_WEB_IDENTITY_AUDIENCE
    role = template()["Resources"]["GcpFunctionsRole"]
    assert role["Condition"] == "HasGcpServiceAccount"
    assert template()["Outputs"]["GcpFunctionsRoleArn"]["Condition"] == "HasGcpServiceAccount"
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Federated": "accounts.google.com"}
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"] == {
        "StringEquals": {
            "accounts.google.com:aud": {"Ref": "GcpServiceAccountId"},  # the token's azp
            "accounts.google.com:sub": {"Ref": "GcpServiceAccountId"},
            "accounts.google.com:oaud": {"Ref": "GcpTokenAudience"},  # the token's aud
        }
    }
    props = role["Properties"]
    granted = [
        *policy_statements(props["ManagedPolicyArns"]),
        *policy_statements([p["PolicyDocument"] for p in props["Policies"]]),
    ]
    actions = {action for _, statement in granted for action in statement["Action"]}
    assert all("*" not in action for action in actions)
    # on_gar_push: the idempotency record and the job, the work items (SAM policy templates
    # on its AWS twin, gar_poller), and what that twin's own statements allow (rules, gate)
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "sqs:SendMessage"} <= actions
    assert {a for s in statements("GarPollerFunction") for a in s["Action"]} <= actions
    # replicate_now copies into ECR exactly as the Lambda one does
    assert {a for s in statements("ReplicateNowFunction") for a in s["Action"]} <= actions


def _evaluate(node: Any, parameters: dict[str, str]) -> Any:
    """The few intrinsic functions the template's conditions and document policies use."""
    if isinstance(node, list):
        return [_evaluate(n, parameters) for n in node]
    if not isinstance(node, dict):
        return node
    [(function, argument)] = node.items()
    if function == "Ref":
        return parameters[argument]
    if function == "Fn::Sub":
        text = argument
        for name, value in parameters.items():
            text = text.replace("${" + name + "}", value)
        return text
    args = _evaluate(argument, parameters)
    if function == "Fn::Split":
        return args[1].split(args[0])
    if function == "Fn::Select":
        return args[1][int(args[0])]
    if function == "Fn::Equals":
        return args[0] == args[1]
    if function == "Fn::Not":
        return not args[0]
    if function == "Fn::And":
        return all(args)
    raise AssertionError(f"unexpected {function}")


@pytest.mark.parametrize(
    ("location", "ssm", "s3", "resource"),
    [
        ("ssm:/freightliner/rules", True, False, "parameter/freightliner/rules"),
        ("s3://config-bucket/team/rules.yaml", False, True, "s3:::config-bucket/team/rules.yaml"),
        ("/opt/freightliner/rules.yaml", False, False, None),
        ("", False, False, None),
    ],
)
def test_documents_are_readable_exactly_where_their_location_says(
    location: str, ssm: bool, s3: bool, resource: str | None
) -> None:
    """No RulesParameterName to keep equal by hand: the grant is derived from the location."""
    parameters = template()["Parameters"]
    assert "RulesParameterName" not in parameters
    for doc in ("Rules", "Syncs"):
        accepted = re.match(parameters[f"{doc}Location"]["AllowedPattern"], location)
        assert bool(accepted) is (bool(location) or doc == "Syncs"), doc
    conditions = template()["Conditions"]
    resources = template()["Resources"]
    for doc in ("Rules", "Syncs"):
        params = {f"{doc}Location": location}
        assert _evaluate(conditions[f"{doc}InSsm"], params) is ssm
        assert _evaluate(conditions[f"{doc}InS3"], params) is s3
        for kind, granted in (("Ssm", ssm), ("S3", s3)):
            policy = resources[f"{doc}{kind}ReadPolicy"]
            assert policy["Condition"] == f"{doc}In{kind}"
            if not granted:
                continue
            [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
            assert statement["Action"] == (["ssm:GetParameter"] if ssm else ["s3:GetObject"])
            text, variables = statement["Resource"]["Fn::Sub"]
            names = {k: _evaluate(v, params) for k, v in variables.items()}
            assert resource is not None
            assert _evaluate({"Fn::Sub": text}, names).endswith(resource)
    rules_readers = {"OnEcrPushFunction", "GarPollerFunction"}
    for name, props in (
        *((n, resources[n]["Properties"]["Policies"]) for n in rules_readers),
        ("GcpFunctionsRole", resources["GcpFunctionsRole"]["Properties"]["ManagedPolicyArns"]),
        ("StartTreeFunction", resources["StartTreeFunction"]["Properties"]["Policies"]),
    ):
        doc = "Syncs" if name == "StartTreeFunction" else "Rules"
        for kind in ("Ssm", "S3"):
            grant = {"Fn::If": [f"{doc}In{kind}", {"Ref": f"{doc}{kind}ReadPolicy"}, NO_VALUE]}
            assert grant in props, (name, kind)
    text = (ROOT / "template.yaml").read_text()
    assert "parameter/freightliner/*" not in text  # no broader SSM grant left


NO_VALUE = {"Ref": "AWS::NoValue"}


def test_repository_prefixes_default_to_safe_scopes() -> None:
    parameters = template()["Parameters"]
    destination = parameters["DestinationRepositoryPrefix"]
    pattern = re.compile(destination["AllowedPattern"])
    assert pattern.match(destination["Default"]) and destination["Default"] != ""
    for account_wide in ("", "*", "mirror/*", "*/x"):
        assert not pattern.match(account_wide), account_wide
    source = re.compile(parameters["SourceRepositoryPrefix"]["AllowedPattern"])
    assert not source.match("*")
    for function in ("ReplicateFunction", "ReplicateNowFunction"):
        for statement in statements(function):
            if {"ecr:BatchDeleteImage", "ecr:PutImage"} & set(statement["Action"]):
                resource = statement["Resource"]["Fn::Sub"]
                assert resource.endswith("repository/${DestinationRepositoryPrefix}*"), function


def test_stateful_resources_are_retained() -> None:
    kept = {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Logs::LogGroup"}
    resources = template()["Resources"]
    stateful = {n: r for n, r in resources.items() if r["Type"] in kept}
    assert {"StateTable", "WorkQueue", "DeadLetterQueue", "FailedEventsQueue"} <= stateful.keys()
    for name, resource in stateful.items():
        assert resource.get("DeletionPolicy") == "Retain", name
        assert resource.get("UpdateReplacePolicy") == "Retain", name


def test_replicate_concurrency_bounds_the_sqs_event_source() -> None:
    parameter = template()["Parameters"]["ReplicateConcurrency"]
    assert parameter["Default"] == 20 and parameter["MinValue"] >= 2
    source = template()["Resources"]["ReplicateFunction"]["Properties"]["Events"]["Work"]
    assert source["Properties"]["ScalingConfig"] == {
        "MaximumConcurrency": {"Ref": "ReplicateConcurrency"}
    }


def _functions() -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def test_every_asynchronously_invoked_function_has_an_on_failure_destination() -> None:
    """EventBridge, Scheduler and console targets: after Lambda's retries the event goes to
    FailedEventsQueue; what EventBridge cannot deliver at all goes there too."""
    failed_events = {"Fn::GetAtt": "FailedEventsQueue.Arn"}
    state_machine_tasks = {
        "CheckScanFunction",
        "EvaluateFindingsFunction",
        "WaitForScanFunction",
        "RecordGateOutcomeFunction",
    }
    for name, function in _functions().items():
        props = function["Properties"]
        events = props.get("Events", {})
        if name in state_machine_tasks or any(e["Type"] == "SQS" for e in events.values()):
            assert "EventInvokeConfig" not in props, name  # invoked synchronously
            continue
        config = props["EventInvokeConfig"]
        assert config["MaximumRetryAttempts"] <= 2, name
        assert config["DestinationConfig"]["OnFailure"] == {
            "Type": "SQS",
            "Destination": failed_events,
        }, name
        for event in events.values():
            assert event["Type"] in {"EventBridgeRule", "Schedule"}, name
            assert event["Properties"]["DeadLetterConfig"] == {"Arn": failed_events}, name
    assert {"OnEcrPushFunction", "OnScanEventFunction", "StartTreeFunction"} <= {
        n for n, f in _functions().items() if "EventInvokeConfig" in f["Properties"]
    }
    policy = template()["Resources"]["FailedEventsQueuePolicy"]["Properties"]["PolicyDocument"]
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}


def _alarm(metric: str, dimension_value: Any) -> dict[str, Any] | None:
    for resource in template()["Resources"].values():
        props = resource.get("Properties", {})
        if (
            resource["Type"] == "AWS::CloudWatch::Alarm"
            and props.get("MetricName") == metric
            and any(d["Value"] == dimension_value for d in props.get("Dimensions", []))
        ):
            return resource
    return None


def test_alarms_watch_queues_every_function_and_permanent_failures_only() -> None:
    age = _alarm("ApproximateAgeOfOldestMessage", {"Fn::GetAtt": "WorkQueue.QueueName"})
    assert age is not None
    assert age["Properties"]["Threshold"] == {"Ref": "WorkQueueAgeAlarmSeconds"}
    for queue in ("DeadLetterQueue", "FailedEventsQueue"):
        visible = {"Fn::GetAtt": f"{queue}.QueueName"}
        assert _alarm("ApproximateNumberOfMessagesVisible", visible) is not None, queue
    for name, function in _functions().items():
        for metric in ("Errors", "Throttles"):
            alarm = _alarm(metric, {"Ref": name})
            assert alarm is not None, (name, metric)
            assert alarm.get("Condition") == function.get("Condition"), (name, metric)
    failures = _alarm("Failures", "freightliner")
    assert failures is not None
    assert failures["Properties"]["Namespace"] == {"Ref": "MetricsNamespace"}
    # retryable errors are counted as Retries, never as Failures: test_handler_outcomes.py
