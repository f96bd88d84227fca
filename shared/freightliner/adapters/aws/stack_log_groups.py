"""The log groups a CloudFormation stack made (every function's, the scan gate's): what
`freightliner trace` searches when FREIGHTLINER_LOG_GROUPS does not list them."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import aws_error
from freightliner.domain.errors import Where


def stack_log_groups(cloudformation: Any, stack: str) -> list[str]:
    """The names of the stack's AWS::Logs::LogGroup resources, every page of them."""
    names: list[str] = []
    try:
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack):
            names += [
                str(r["PhysicalResourceId"])
                for r in page.get("StackResourceSummaries", [])
                if r.get("ResourceType") == "AWS::Logs::LogGroup" and r.get("PhysicalResourceId")
            ]
    except (ClientError, BotoCoreError) as exc:
        where = Where(registry=f"cloudformation:{stack}", operation="ListStackResources")
        raise aws_error(exc, where) from None
    return sorted(names)
