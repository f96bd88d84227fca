"""The state table's one update-expression builder: every name and value a placeholder (so
reserved words like `status` and `bytes` are safe), zero counters left out, conditions
joined, floats stored as Decimal."""

from __future__ import annotations

from decimal import Decimal

from freightliner.adapters.aws.dynamo_state import Update
from freightliner.domain.work import ItemStatus

KEY = {"PK": "JOB#j", "SK": "ITEM#i"}


def test_set_add_remove_and_a_status_condition_in_one_expression() -> None:
    update = (
        Update(KEY)
        .set(status=ItemStatus.DONE, finished_at=12.5, bytes=0)
        .set_once(work="{}")
        .add({"done": 1, "failed": 0})
        .remove("last_error")
        .when_status(ItemStatus.RUNNING)
    )
    assert update.params() == {
        "Key": KEY,
        "UpdateExpression": "SET #n0 = :v0, #n1 = :v1, #n2 = :v2, #n3 = if_not_exists(#n3, :v3) "
        "ADD #n4 :v4 REMOVE #n5",
        "ConditionExpression": "#n0 IN (:v5)",
        "ExpressionAttributeNames": {
            "#n0": "status",
            "#n1": "finished_at",
            "#n2": "bytes",
            "#n3": "work",
            "#n4": "done",
            "#n5": "last_error",
        },
        "ExpressionAttributeValues": {
            ":v0": "DONE",
            ":v1": Decimal("12.5"),
            ":v2": 0,
            ":v3": "{}",
            ":v4": 1,
            ":v5": "RUNNING",
        },
    }
    assert type(update.params()["ExpressionAttributeValues"][":v0"]) is str  # not the enum


def test_a_new_record_or_one_in_a_listed_status() -> None:
    update = Update(KEY).add({"attempts": 1}).when_status("PENDING", "RUNNING", or_new=True)
    params = update.params()
    assert params["ConditionExpression"] == "(attribute_not_exists(PK) OR #n1 IN (:v1, :v2))"
    assert params["ExpressionAttributeNames"] == {"#n0": "attempts", "#n1": "status"}


def test_only_zero_counters_leave_a_bare_existence_check() -> None:
    update = Update({"PK": "JOB#j", "SK": "JOB"}).add({"total": 0}).when_exists()
    assert not update.changes
    assert update.params() == {
        "Key": {"PK": "JOB#j", "SK": "JOB"},
        "ConditionExpression": "attribute_exists(PK)",
    }
