"""The ScanGate port on Step Functions: one Standard execution of the scan-gate state machine
per held item, named by (source digest, destination).

A name Step Functions already knows (ExecutionAlreadyExists, or the running execution given
back for the same input) means the gate for that work exists: success. When that execution
belongs to another job, the item is reported as covered so its own job does not wait on it.
Waking a parked wait is SendTaskSuccess on its task token; a wait that is over is skipped.
The input stays within Step Functions' limits: an item too large for it travels packed
(`freightliner.domain.gate_input`, with the work queue's `PayloadCodec`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import aws_error, error_code
from freightliner.domain.errors import Where
from freightliner.domain.gate_input import GateInput, gate_input
from freightliner.domain.work import GateRequest
from freightliner.ports.payloads import PayloadCodec
from freightliner.ports.work import GateCovered

_WAIT_OVER = {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}


class StepFunctionsScanGate:
    def __init__(
        self, client: Any, state_machine_arn: str, payloads: PayloadCodec | None = None
    ) -> None:
        self._client = client  # a boto3 Step Functions client, built by the composition root
        self._arn = state_machine_arn
        self._payloads = payloads or PayloadCodec()
        prefix, _, self._machine = state_machine_arn.rpartition(":stateMachine:")
        self._executions = f"{prefix}:execution:{self._machine}"

    def execution_arn(self, name: str) -> str:
        """The ARN of this state machine's execution called `name`."""
        return f"{self._executions}:{name}"

    def start(self, requests: Sequence[GateRequest]) -> list[GateCovered]:
        covered: list[GateCovered] = []
        for request in requests:
            name = request.execution_name
            try:
                self._client.start_execution(
                    stateMachineArn=self._arn,
                    name=name,
                    input=gate_input(request, self._payloads.pack),
                )
            except ClientError as exc:
                if error_code(exc) != "ExecutionAlreadyExists":
                    raise aws_error(exc, self._where("states:StartExecution", name)) from None
                holder = self._holder(name)
                if holder != request.item.job_id:
                    covered.append(GateCovered(item=request.item, execution=name, job_id=holder))
            except BotoCoreError as exc:
                raise aws_error(exc, self._where("states:StartExecution", name)) from None
        return covered

    def wake(self, tokens: Sequence[str]) -> int:
        woken = 0
        for token in tokens:
            try:
                self._client.send_task_success(taskToken=token, output="{}")
            except ClientError as exc:
                if error_code(exc) in _WAIT_OVER:
                    continue
                raise aws_error(exc, self._where("states:SendTaskSuccess", "wait")) from None
            except BotoCoreError as exc:
                raise aws_error(exc, self._where("states:SendTaskSuccess", "wait")) from None
            woken += 1
        return woken

    def _holder(self, name: str) -> str:
        """The job whose item the existing execution holds."""
        try:
            described = self._client.describe_execution(executionArn=self.execution_arn(name))
        except (ClientError, BotoCoreError) as exc:
            raise aws_error(exc, self._where("states:DescribeExecution", name)) from None
        return GateInput.model_validate_json(described["input"]).job_id

    def _where(self, operation: str, name: str) -> Where:
        return Where(registry=f"states:{self._machine}", repository=name, operation=operation)
