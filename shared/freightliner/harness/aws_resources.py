"""The queue, dead-letter queue, failed-events queue and state table, created from the same
definitions the SAM template uses, in moto (tests, `make demo`) or any AWS endpoint the
environment points at."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from freightliner.adapters.aws.table_schema import TABLE_DEFINITION, TTL_ATTRIBUTE

MAX_RECEIVE_COUNT = 3
VISIBILITY_TIMEOUT = 30


@dataclass(frozen=True)
class PipelineResources:
    queue_url: str
    dlq_url: str
    table: str
    failed_events_url: str


def create_resources(
    sqs: Any,
    dynamodb: Any,
    prefix: str = "freightliner",
    visibility_timeout: int = VISIBILITY_TIMEOUT,
) -> PipelineResources:
    dlq_url = sqs.create_queue(QueueName=f"{prefix}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=f"{prefix}-work",
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
            ),
        },
    )["QueueUrl"]
    table = f"{prefix}-state"
    dynamodb.create_table(TableName=table, **TABLE_DEFINITION)
    dynamodb.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    failed_events_url = sqs.create_queue(QueueName=f"{prefix}-failed-events")["QueueUrl"]
    return PipelineResources(queue_url, dlq_url, table, failed_events_url)
