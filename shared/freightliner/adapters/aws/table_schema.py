"""The state table's key schema: one definition for template.yaml, `local up` and the tests.

Single-table design:

| item | PK | SK | GSI1PK (by-status) | GSI1SK |
| --- | --- | --- | --- | --- |
| job | `JOB#<job id>` | `JOB` | `JOBSTATUS#<status>` | created time |
| work item | `JOB#<job id>` | `ITEM#<item id>` | `ITEMSTATUS#<status>` | updated time |
| parked gate wait | `SCANWAIT#<source image>` | `TOKEN#<token hash>` | | |
| rejected work item | `REJECTED#<job id>` | `ITEM#<item id>` | `REJECTED` | rejected time |

Job counters (`total`, `done`, `failed`, `skipped`, `blocked`, `bytes`) live on the job and
change with atomic ADD; item transitions are conditional writes. `expires_at` is the TTL
attribute.

The scan-gate state machine (statemachine/scan_gate.asl.json) writes the same records through
DynamoDB service integrations: on a held item `scan_findings` (JSON text), `gate_execution`,
and `scan_verdict` when it passes; PENDING → BLOCKED or FAILED with `last_error` and
`error_kind` when it does not (its GSI1SK keeps the time the item was recorded), then the
job's `blocked`/`failed` counter and the job's close.
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
