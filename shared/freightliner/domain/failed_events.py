"""What the failed-events queue holds, read back into "this function, this event".

Two shapes arrive there: Lambda's on-failure destination record (after the function failed
its retries: `requestContext.functionArn` and the original `requestPayload`), and the
message EventBridge or Scheduler dead-letters when it could not invoke the function at all
(the original event as the body, the target in the `TARGET_ARN` attribute).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from freightliner.domain.errors import InvalidInput

FUNCTION_ARN_PARTS = 7  # arn:aws:lambda:region:account:function:name


class _RequestContext(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    function_arn: str = Field(alias="functionArn", pattern=r"^arn:[\w-]+:lambda:")
    condition: str = ""
    approximate_invoke_count: int = Field(default=0, alias="approximateInvokeCount")


class _InvocationRecord(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    request_context: _RequestContext = Field(alias="requestContext")
    request_payload: Any = Field(alias="requestPayload")


class FailedEvent(BaseModel):
    """One event to replay: the function it was for (unqualified ARN) and the event itself."""

    function: str
    payload: Any
    reason: str


def unqualified(function_arn: str) -> str:
    """`arn:…:function:name:$LATEST` (or `:alias`) → `arn:…:function:name`."""
    return ":".join(function_arn.split(":")[:FUNCTION_ARN_PARTS])


def failed_event(body: str, attributes: dict[str, str]) -> FailedEvent:
    """The event a failed-events message carries; InvalidInput when it is neither shape."""
    try:
        document = json.loads(body)
    except ValueError:
        raise InvalidInput("failed-events message: the body is not JSON") from None
    target = attributes.get("TARGET_ARN")
    if target:  # EventBridge / Scheduler could not deliver it
        reason = attributes.get("ERROR_CODE", "not delivered")
        return FailedEvent(function=unqualified(target), payload=document, reason=reason)
    try:
        record = _InvocationRecord.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(record)"
        raise InvalidInput(f"failed-events message: {field}: {first['msg']}") from None
    context = record.request_context
    reason = f"{context.condition or 'failed'} after {context.approximate_invoke_count} attempts"
    return FailedEvent(
        function=unqualified(context.function_arn), payload=record.request_payload, reason=reason
    )
