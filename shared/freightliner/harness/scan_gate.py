"""The scan-gate state machine on the local stack: moto interprets the real ASL (the file the
template deploys, with the same DefinitionSubstitutions), its Lambda tasks run the checkout's
handlers in this process, and its SQS, DynamoDB and EventBridge tasks reach moto.

ECR scans are scripted through moto's `/moto-api/static/ecr/scan-finding-results` endpoint.
moto answers an image with the first scripted result forever; so that each check sees the
next one, the result an image was answering with is forgotten after every `check_scan` call
while more are queued (the last one then stays).

Used by `make demo-gate` and the end-to-end tests.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from freightliner.adapters.aws.eventbridge_notifier import SOURCE as JOB_EVENT_SOURCE
from freightliner.adapters.aws.step_functions_gate import StepFunctionsScanGate
from freightliner.environment import ENV_EVENT_BUS, ENV_SCAN_GATE_ARN
from freightliner.harness.functions import REPO, load_handler
from freightliner.harness.lambda_runtime import LocalContext
from freightliner.harness.local_stack import ACCOUNT, REGION, LocalStack

DEFINITION = REPO / "statemachine" / "scan_gate.asl.json"
TASKS = ("check_scan", "evaluate_findings", "wait_for_scan", "record_gate_outcome")
EVENT_SOURCE = "freightliner.scan-gate"
EVENT_BUS = "default"  # the gate's and the jobs' events, as the template's JobEventBus
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


def render_definition(substitutions: Mapping[str, str]) -> str:
    """The ASL with its `${Name}` placeholders filled in, as CloudFormation does it."""
    text = DEFINITION.read_text()
    missing = sorted(set(_PLACEHOLDER.findall(text)) - set(substitutions))
    if missing:
        raise KeyError(f"no substitution for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], text)


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def scan_result(
    repository: str,
    digest: str,
    status: str,
    findings: Iterable[tuple[str, str]] = (),
    description: str = "",
) -> dict[str, Any]:
    """One DescribeImageScanFindings answer (basic scanning) for moto to give back."""
    pairs = list(findings)
    listed = [{"name": name, "severity": severity} for name, severity in pairs]
    counts: dict[str, int] = {}
    for _, severity in pairs:
        counts[severity] = counts.get(severity, 0) + 1
    return {
        "registryId": ACCOUNT,
        "repositoryName": repository,
        "imageId": {"imageDigest": digest},
        "imageScanStatus": {"status": status, "description": description},
        "imageScanFindings": {"findings": listed, "findingSeverityCounts": counts},
    }


def script_ecr_scan(moto_url: str, *results: dict[str, Any]) -> None:
    """Hand moto DescribeImageScanFindings answers for the images the results name."""
    response = httpx.post(
        f"{moto_url}/moto-api/static/ecr/scan-finding-results",
        json={"results": list(results), "region": REGION, "account_id": ACCOUNT},
    )
    response.raise_for_status()


@dataclass
class TaskCall:
    function: str
    event: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None


class LocalScanGate:
    """Deploys the scan gate on a started LocalStack; `stop()` (or the context) undoes it."""

    def __init__(
        self, stack: LocalStack, handler: Callable[[str], Callable[..., Any]] | None = None
    ) -> None:
        """`handler(name)` gives a task's handler; default: the checkout's, in-process."""
        self.stack = stack
        self._handler = handler or (lambda name: load_handler(name).handler)
        self.calls: list[TaskCall] = []
        self.arn = ""
        self.events_queue_url = ""
        self._received: list[dict[str, Any]] = []  # events read but not yet asked for
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._lock = threading.Lock()
        self._saved_invoke: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._faults: dict[str, Exception] = {}
        self._adapter: StepFunctionsScanGate | None = None  # for its execution ARNs

    def _configure_moto(self, enabled: bool) -> None:
        config = {
            "stepfunctions": {"execute_state_machine": enabled},
            "lambda": {"use_docker": not enabled},
        }
        httpx.post(f"{self.stack.moto_url}/moto-api/config", json=config).raise_for_status()

    def start(self) -> LocalScanGate:
        from moto.awslambda_simple.models import LambdaSimpleBackend  # noqa: PLC0415

        resources = self.stack.resources
        assert resources is not None, "start the LocalStack first"
        self._configure_moto(True)
        self._handlers = {name: self._handler(name) for name in TASKS}
        self._saved_invoke = LambdaSimpleBackend.invoke
        LambdaSimpleBackend.invoke = self._invoke  # type: ignore[method-assign,assignment]
        definition = render_definition(
            {
                "CheckScanFunctionArn": function_arn("check_scan"),
                "EvaluateFindingsFunctionArn": function_arn("evaluate_findings"),
                "WaitForScanFunctionArn": function_arn("wait_for_scan"),
                "RecordGateOutcomeFunctionArn": function_arn("record_gate_outcome"),
                "WorkQueueUrl": resources.queue_url,
                "EventBusName": EVENT_BUS,
            }
        )
        sfn = self.stack.client("stepfunctions")
        self.arn = sfn.create_state_machine(
            name="freightliner-scan-gate",
            definition=definition,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/freightliner-scan-gate",
            type="STANDARD",
        )["stateMachineArn"]
        self._adapter = StepFunctionsScanGate(sfn, self.arn)
        self._watch_events()
        for name, value in ((ENV_SCAN_GATE_ARN, self.arn), (ENV_EVENT_BUS, EVENT_BUS)):
            self._saved_env[name] = os.environ.get(name)
            os.environ[name] = value
        return self

    def _watch_events(self) -> None:
        """Gate announcements land on a queue the demo and the tests read."""
        sqs = self.stack.client("sqs")
        self.events_queue_url = sqs.create_queue(QueueName="freightliner-gate-events")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(
            QueueUrl=self.events_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        events = self.stack.client("events")
        events.put_rule(
            Name="freightliner-gate-events",
            EventPattern=json.dumps({"source": [EVENT_SOURCE, JOB_EVENT_SOURCE]}),
        )
        events.put_targets(
            Rule="freightliner-gate-events", Targets=[{"Id": "queue", "Arn": queue_arn}]
        )

    def stop(self) -> None:
        from moto.awslambda_simple.models import LambdaSimpleBackend  # noqa: PLC0415

        if self._saved_invoke is not None:
            LambdaSimpleBackend.invoke = self._saved_invoke  # type: ignore[method-assign]
            self._saved_invoke = None
        for name, saved in self._saved_env.items():
            if saved is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = saved
        self._saved_env.clear()
        if self.stack.moto is not None:
            self._configure_moto(False)

    def __enter__(self) -> LocalScanGate:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- Lambda tasks --------------------------------------------------------------------

    def _invoke(
        self,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        """moto's Lambda invoke, answered by the checkout's handler as the runtime would."""
        name = function_name.rsplit(":", 1)[-1]
        event = json.loads(body or "{}")
        call = TaskCall(name, event)
        with self._lock:
            self.calls.append(call)
        try:
            if name in self._faults:
                raise self._faults[name]
            handler = self._handlers[name]
            result = call.result = handler(event, LocalContext(function_name=name))
        except Exception as exc:
            call.error = type(exc).__name__
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "stackTrace": traceback.format_tb(exc.__traceback__)[-3:],
                }
            ).encode()
        finally:
            if name == "check_scan":
                self._advance_ecr_scans()
        return json.dumps(result).encode()

    def break_task(self, function: str, error: Exception) -> None:
        """Make every invocation of `function` fail with `error`, as if its service did."""
        self._faults[function] = error

    def task_calls(self, function: str) -> list[TaskCall]:
        with self._lock:
            return [c for c in self.calls if c.function == function]

    # -- ECR scans -------------------------------------------------------------------------

    def script_ecr_scan(self, *results: dict[str, Any]) -> None:
        """Queue DescribeImageScanFindings answers; each check_scan call sees the next."""
        script_ecr_scan(self.stack.moto_url, *results)

    @staticmethod
    def _advance_ecr_scans() -> None:
        from moto.ecr.models import ecr_backends  # noqa: PLC0415

        for repository in ecr_backends[ACCOUNT][REGION].repositories.values():
            for image in repository.images:
                if image.scan_finding_results_queue:
                    image.scan_finding_results.clear()

    # -- executions ------------------------------------------------------------------------

    def execution_arn(self, name: str) -> str:
        assert self._adapter is not None, "start() first"
        return self._adapter.execution_arn(name)

    def wait(self, name: str, timeout: float = 90.0) -> dict[str, Any]:
        """The execution's description once it has stopped running."""
        sfn = self.stack.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            described: dict[str, Any] = sfn.describe_execution(
                executionArn=self.execution_arn(name)
            )
            if described["status"] != "RUNNING":
                return described
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {name} still running after {timeout} s")
            time.sleep(0.2)

    def announcements(self, source: str = EVENT_SOURCE) -> list[dict[str, Any]]:
        """Events from `source` received so far (gate events by default; the job-finished
        events of jobs the gate closed with `JOB_EVENT_SOURCE`), each read once."""
        sqs = self.stack.client("sqs")
        while True:
            messages = sqs.receive_message(
                QueueUrl=self.events_queue_url, MaxNumberOfMessages=10
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                self._received.append(json.loads(message["Body"]))
                sqs.delete_message(
                    QueueUrl=self.events_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        found = [event for event in self._received if event["source"] == source]
        self._received = [event for event in self._received if event["source"] != source]
        return found
