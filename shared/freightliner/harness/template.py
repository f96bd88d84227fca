"""template.yaml read as data: CloudFormation's short-form tags (`!Ref X`, `!GetAtt X.Arn`)
become their long form, so the harness configures itself from what deploys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from freightliner.harness.functions import REPO

TEMPLATE = REPO / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    pass


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _any_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - a SafeLoader
    return loaded


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each function's properties by its handler directory (functions/<name>/)."""
    return {
        Path(resource["Properties"]["CodeUri"]).name: resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def memory_mb(template: dict[str, Any]) -> dict[str, int]:
    """Each function's memory size (its own, else the Globals')."""
    default = int(template["Globals"]["Function"]["MemorySize"])
    return {name: int(p.get("MemorySize", default)) for name, p in functions(template).items()}
