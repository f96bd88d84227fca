"""Tree-sync schedules as EventBridge Scheduler schedules, one per scheduled sync, in their
own group: applying a sync file creates, updates and deletes schedules until the group holds
exactly the file's (a sync whose `schedule` was removed stops running). An invocation
Scheduler cannot deliver goes to the failed-events queue when one is named, for
`freightliner events redrive`."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field

from freightliner.adapters.aws.errors import aws_error
from freightliner.domain.errors import Where

GROUP = "freightliner-trees"


class ScheduleChanges(BaseModel):
    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)


class TreeSchedules:
    def __init__(
        self,
        client: Any,
        target_arn: str,
        role_arn: str,
        group: str = GROUP,
        dead_letter_arn: str | None = None,
    ) -> None:
        self._client = client  # a boto3 `scheduler` client, built by the composition root
        self._target = target_arn  # the start_tree function
        self._role = role_arn  # a role EventBridge Scheduler assumes to invoke it
        self._group = group
        self._dead_letter = dead_letter_arn  # an SQS queue ARN

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, operation)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            where = Where(registry=f"scheduler:{self._group}", operation=f"scheduler:{operation}")
            raise aws_error(exc, where) from None

    def existing(self) -> set[str]:
        names: set[str] = set()
        kwargs: dict[str, Any] = {"GroupName": self._group}
        while True:
            page = self._call("list_schedules", **kwargs)
            names |= {s["Name"] for s in page.get("Schedules", [])}
            if not page.get("NextToken"):
                return names
            kwargs["NextToken"] = page["NextToken"]

    def apply(self, wanted: dict[str, str]) -> ScheduleChanges:
        """`wanted` maps sync names to schedule expressions."""
        changes = ScheduleChanges()
        present = self.existing()
        for name, expression in sorted(wanted.items()):
            target: dict[str, Any] = {
                "Arn": self._target,
                "RoleArn": self._role,
                "Input": json.dumps({"sync": name}),
            }
            if self._dead_letter:
                target["DeadLetterConfig"] = {"Arn": self._dead_letter}
            definition = {
                "Name": name,
                "GroupName": self._group,
                "ScheduleExpression": expression,
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "Target": target,
                "Description": f"freightliner tree sync {name}",
            }
            if name in present:
                self._call("update_schedule", **definition)
                changes.updated.append(name)
            else:
                self._call("create_schedule", **definition)
                changes.created.append(name)
        for name in sorted(present - wanted.keys()):
            self._call("delete_schedule", Name=name, GroupName=self._group)
            changes.deleted.append(name)
        return changes
