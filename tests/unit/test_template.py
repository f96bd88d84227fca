"""template.yaml checks that neither `sam validate` nor cfn-lint make."""

from pathlib import Path
from typing import Any

import yaml

from freightliner.adapters.aws.table_schema import TABLE_DEFINITION, TTL_ATTRIBUTE
from freightliner.harness.aws_resources import MAX_RECEIVE_COUNT

ROOT = Path(__file__).resolve().parents[2]


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, ...) as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _any_tag)


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
        for policy in props.get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                assert all("*" not in action for action in statement["Action"]), name


def statements(function: str) -> list[dict[str, Any]]:
    policies = template()["Resources"][function]["Properties"]["Policies"]
    return [
        st for policy in policies if isinstance(policy, dict) for st in policy.get("Statement", [])
    ]


def test_tree_schedules_can_invoke_start_tree_and_jobs_can_announce_their_end() -> None:
    resources = template()["Resources"]
    assert resources["TreeScheduleGroup"]["Properties"]["Name"] == "freightliner-trees"
    role = resources["TreeSchedulerRole"]["Properties"]
    [statement] = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["lambda:InvokeFunction"]
    assert statement["Resource"] == "StartTreeFunction.Arn"
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
