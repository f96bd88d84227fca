"""What a CloudWatch Logs subscription filter delivers to a Lambda function: base64 of a
gzipped JSON document naming the source log group and carrying the matched events. Read with
a bound on the decompressed size: the payload is input like any other."""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from freightliner.domain.errors import InvalidInput

MAX_DECOMPRESSED = 16 * 1024 * 1024


class SubscribedEvent(BaseModel):
    id: str = ""
    timestamp: int = Field(ge=0)
    message: str


class SubscriptionData(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    message_type: Literal["DATA_MESSAGE", "CONTROL_MESSAGE"] = Field(alias="messageType")
    log_group: str = Field(default="", alias="logGroup")
    log_stream: str = Field(default="", alias="logStream")
    log_events: list[SubscribedEvent] = Field(default_factory=list, alias="logEvents")


class AwsLogs(BaseModel):
    data: str = Field(min_length=1)


class SubscriptionEvent(BaseModel):
    """The Lambda event: `{"awslogs": {"data": "<base64 gzip JSON>"}}`."""

    awslogs: AwsLogs

    def decoded(self) -> SubscriptionData:
        try:
            raw = base64.b64decode(self.awslogs.data, validate=True)
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
                document = stream.read(MAX_DECOMPRESSED + 1)
        except (binascii.Error, OSError, EOFError) as exc:
            raise InvalidInput(f"awslogs.data is not base64 gzip: {type(exc).__name__}") from None
        if len(document) > MAX_DECOMPRESSED:
            raise InvalidInput(f"awslogs.data decompresses beyond {MAX_DECOMPRESSED} bytes")
        try:
            return SubscriptionData.model_validate(json.loads(document))
        except (ValueError, RecursionError):
            raise InvalidInput("awslogs.data is not a subscription document") from None
