"""Lambda's asynchronous invocation on this machine, as the template configures it.

The service tries an event once, retries it `MaximumRetryAttempts` times (two by default;
the real service waits about 1 and 2 minutes, here `pause` seconds), then sends an invocation
record (`requestContext`, `requestPayload`, `responsePayload`) to the function's on-failure
destination. Which destination and how many retries are read from template.yaml's
`EventInvokeConfig`, so the tests exercise what deploys. `serving()` also answers moto's
Lambda `Invoke` (InvocationType Event) with this, so `freightliner events redrive` replays
through the real boto3 call.
"""

from __future__ import annotations

import json
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from freightliner.harness.lambda_runtime import LocalContext
from freightliner.harness.template import TEMPLATE, functions, load_template

Handler = Callable[[dict[str, Any], Any], Any]
ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass(frozen=True)
class AsyncConfig:
    retries: int
    on_failure: str  # the template's logical id of the destination queue


def async_configs(template: Path = TEMPLATE) -> dict[str, AsyncConfig]:
    """Each asynchronously invoked function's EventInvokeConfig, by its handler directory."""
    configs = {}
    for name, props in functions(load_template(template)).items():
        config = props.get("EventInvokeConfig")
        if config is None:
            continue
        destination = config["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"]
        configs[name] = AsyncConfig(int(config["MaximumRetryAttempts"]), destination.split(".")[0])
    return configs


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


@dataclass
class LambdaService:
    """Asynchronous invocations of local handlers with the template's retries and
    destinations. `destinations` maps the template's queue logical ids to queue URLs."""

    sqs: Any
    destinations: dict[str, str]
    handlers: dict[str, Handler] = field(default_factory=dict)
    configs: dict[str, AsyncConfig] = field(default_factory=async_configs)
    pause: float = 0.0
    attempts: list[tuple[str, str]] = field(default_factory=list)  # (function, "ok" | error)

    def invoke_async(self, function: str, event: dict[str, Any]) -> bool:
        """Run the event as Lambda would; False when it ended in the on-failure destination."""
        name = function.rsplit(":", maxsplit=1)[-1]
        config = self.configs[name]
        handler = self.handlers[name]
        error: Exception | None = None
        for attempt in range(1 + config.retries):
            if attempt:
                time.sleep(self.pause)
            try:
                handler(json.loads(json.dumps(event)), LocalContext(function_name=name))
            except Exception as exc:  # what Lambda records as a function error
                error = exc
                self.attempts.append((name, type(exc).__name__))
                continue
            self.attempts.append((name, "ok"))
            return True
        assert error is not None
        self.sqs.send_message(
            QueueUrl=self.destinations[config.on_failure],
            MessageBody=json.dumps(self._record(name, event, error, 1 + config.retries)),
        )
        return False

    @staticmethod
    def _record(name: str, event: Any, error: Exception, attempts: int) -> dict[str, Any]:
        return {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{function_arn(name)}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
                "stackTrace": traceback.format_exception(error)[-3:],
            },
        }

    @contextmanager
    def serving(self, moto_url: str) -> Iterator[LambdaService]:
        """moto's Lambda `Invoke` with InvocationType Event runs here (moto in this process)."""
        from moto.awslambda_simple.models import LambdaSimpleBackend  # noqa: PLC0415

        httpx.post(f"{moto_url}/moto-api/config", json={"lambda": {"use_docker": False}})
        original = LambdaSimpleBackend.invoke
        service = self

        def invoke(backend: Any, function_name: str, *args: Any) -> bytes:
            _qualifier, body, headers, _response_headers = args
            if headers.get("X-Amz-Invocation-Type") != "Event":
                return original(backend, function_name, *args)  # type: ignore[return-value]
            service.invoke_async(function_name, json.loads(body or b"{}"))
            return b""

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            LambdaSimpleBackend.invoke = original  # type: ignore[method-assign]
