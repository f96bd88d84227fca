"""The SQS batch envelope a Lambda receives, checked before any record is processed.

A record that does not have the shape SQS gives every record (message id, receipt handle,
body, receive count) is set aside, so one malformed record, or an event that is no SQS batch
at all, can never fail the records beside it. Each record's body is still parsed by its own
record handler, where a bad body fails only that record.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class SqsAttributes(BaseModel):
    model_config = ConfigDict(extra="allow")

    receive_count: str = Field(alias="ApproximateReceiveCount", pattern=r"^[0-9]{1,9}$")


class SqsRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    message_id: str = Field(alias="messageId", min_length=1)
    receipt_handle: str = Field(alias="receiptHandle", min_length=1)
    body: str
    attributes: SqsAttributes


class SqsBatch(BaseModel):
    """The well-formed records of an event (as SQS sent them), and how many were not."""

    records: list[dict[str, Any]] = Field(default_factory=list)
    malformed: int = 0

    @classmethod
    def from_event(cls, event: Any) -> SqsBatch:
        raw = event.get("Records") if isinstance(event, dict) else None
        if not isinstance(raw, list):
            return cls(malformed=1)
        batch = cls()
        for record in raw:
            try:
                SqsRecord.model_validate(record)
            except ValidationError:
                batch.malformed += 1
                continue
            batch.records.append(record)
        return batch

    def as_event(self) -> dict[str, Any]:
        """The batch as the event the batch processor takes."""
        return {"Records": self.records}
