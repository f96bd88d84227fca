"""template.yaml checks that neither `sam validate` nor cfn-lint make."""

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from freightliner.adapters.aws.table_schema import TABLE_DEFINITION, TTL_ATTRIBUTE
from freightliner.harness.aws_resources import MAX_RECEIVE_COUNT
from freightliner.settings import DEFAULT_WEB_IDENTITY_AUDIENCE

ROOT = Path(__file__).resolve().parents[2]


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags as their long form: `!Ref X` is {"Ref": "X"},
    `!If [c, a, b]` is {"Fn::If": ["c", a, b]}, and so on."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _any_tag)


@cache  # read-only in every test
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
    return loaded


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
