"""The state table's key schema: one definition for template.yaml, `local up` and the tests.

Single-table design:

| item | PK | SK | GSI1PK (by-status) | GSI1SK |
| --- | --- | --- | --- | --- |
| job | `JOB#<job id>` | `JOB` | `JOBSTATUS#<status>` | created time |
| work item | `JOB#<job id>` | `ITEM#<item id>` | | |
| large blob's upload session | `JOB#<job id>` | `UPLOAD#<item id>#<digest>` | | |
| parked gate wait | `SCANWAIT#<source image>` | `TOKEN#<token hash>` | | |
| rejected work item | `REJECTED#<job id>` | `ITEM#<item id>` | `REJECTED` | rejected time |
| circuit breaker | `BREAKER#<registry host>` | `BREAKER` | `BREAKERS` | host |

| item | GSI2PK (by-trace) | GSI2SK |
| --- | --- | --- |
| job of an event | `CORR#<correlation id>` | created time |
| work item of an image | `DIGEST#<algorithm>:<first 2 hex>` | `<source digest>#<created time>` |

The by-status index lists jobs (`freightliner jobs list`); work items are read through their
job's key only, so they stay out of it. The by-trace index finds what `freightliner trace`
asks about: an event's jobs by its correlation id, and items by their source digest or a
prefix of it (the partition is the digest's first two hex characters, so a tree sync's items
spread over 256 partitions and a prefix is a `begins_with` on the sort key).

Job counters (`total`, `done`, `failed`, `skipped`,
`blocked`, `bytes`, `repositories…`) live on the job and change with atomic ADD; item
transitions are conditional writes. `expires_at` is the TTL attribute.

DynamoStateStore is the only writer of jobs and items. The scan-gate state machine records
its outcomes through it (the RecordGateOutcome function): on a held item `scan_findings`,
`gate_execution`, and `scan_verdict` when it passes; PENDING → BLOCKED or FAILED with
`last_error` and `error_kind` when it does not, counted on the job like any finished item.
"""

from __future__ import annotations

from typing import Any

STATUS_INDEX = "by-status"
TRACE_INDEX = "by-trace"
TTL_ATTRIBUTE = "expires_at"

TABLE_DEFINITION: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "PK", "AttributeType": "S"},
        {"AttributeName": "SK", "AttributeType": "S"},
        {"AttributeName": "GSI1PK", "AttributeType": "S"},
        {"AttributeName": "GSI1SK", "AttributeType": "S"},
        {"AttributeName": "GSI2PK", "AttributeType": "S"},
        {"AttributeName": "GSI2SK", "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": STATUS_INDEX,
            "KeySchema": [
                {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        },
        {
            "IndexName": TRACE_INDEX,
            "KeySchema": [
                {"AttributeName": "GSI2PK", "KeyType": "HASH"},
                {"AttributeName": "GSI2SK", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        },
    ],
    "BillingMode": "PAY_PER_REQUEST",
}


def correlation_key(correlation_id: str) -> str:
    """The by-trace partition of an event's jobs."""
    return f"CORR#{correlation_id}"


def digest_key(digest: str) -> str:
    """The by-trace partition of items whose source digest (or prefix, 2+ hex) is `digest`."""
    algorithm, _, hex_digits = digest.partition(":")
    return f"DIGEST#{algorithm}:{hex_digits[:2]}"
