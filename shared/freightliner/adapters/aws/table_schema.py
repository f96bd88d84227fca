"""The state table's key schema: one definition for template.yaml, `local up` and the tests.

Single-table design:

| item | PK | SK | GSI1PK (by-status) | GSI1SK |
| --- | --- | --- | --- | --- |
| job | `JOB#<job id>` | `JOB` | `JOBSTATUS#<status>` | created time |
| work item | `JOB#<job id>` | `ITEM#<item id>` | | |
| parked gate wait | `SCANWAIT#<source image>` | `TOKEN#<token hash>` | | |
| rejected work item | `REJECTED#<job id>` | `ITEM#<item id>` | `REJECTED` | rejected time |
| circuit breaker | `BREAKER#<registry host>` | `BREAKER` | `BREAKERS` | host |

The by-status index lists jobs (`freightliner jobs list`); work items are read through their
job's key only, so they stay out of it. Job counters (`total`, `done`, `failed`, `skipped`,
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
TTL_ATTRIBUTE = "expires_at"

TABLE_DEFINITION: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "PK", "AttributeType": "S"},
        {"AttributeName": "SK", "AttributeType": "S"},
        {"AttributeName": "GSI1PK", "AttributeType": "S"},
        {"AttributeName": "GSI1SK", "AttributeType": "S"},
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
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
