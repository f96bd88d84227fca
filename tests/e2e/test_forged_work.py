"""Forged SQS messages through the real replicate handler on the moto-server pipeline: an
item of a job that was never created, and an item of a real job sent outside every rule,
are rejected, recorded and counted, and nothing is copied (issue 11, point 6)."""

from __future__ import annotations

from typing import Any

import boto3
from boto3.dynamodb.conditions import Key

from freightliner.adapters.aws.table_schema import STATUS_INDEX
from freightliner.bootstrap.lambda_root import lambda_root
from freightliner.domain.work import WorkItem
from freightliner.harness.local_stack import ECR_HOST, GAR_HOST
from tests.e2e.conftest import Stack
from tests.support.emf import named

GAR = GAR_HOST


def rejections(stack: Stack) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(stack.resources.table)
    found: list[dict[str, Any]] = table.query(
        IndexName=STATUS_INDEX, KeyConditionExpression=Key("GSI1PK").eq("REJECTED")
    )["Items"]
    return found


def forge(stack: Stack, item: WorkItem) -> None:
    stack.sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=item.model_dump_json())


def destination_writes(stack: Stack) -> list[str]:
    return [p for m, p, _ in stack.gar_proxy.requests if m in ("PUT", "POST", "PATCH")]


def test_an_item_of_a_job_never_created_is_rejected_and_nothing_copied(
    stack: Stack, capsys: Any
) -> None:
    image = stack.push("team/app", "v1", seed=11)
    forged = WorkItem(
        job_id="evt-forged",
        source=f"{ECR_HOST}/team/app@{image.digest}",
        destination=f"{GAR}/my-project/stolen/team/app:v1",
        source_digest=image.digest,
        rule="ecr-to-gar",
    )
    forge(stack, forged)
    assert stack.work() == 1  # handled once and acked: a rejection is final
    assert destination_writes(stack) == []
    assert stack.gar_proxy.requests == []  # not even a HEAD at the destination
    [record] = rejections(stack)
    assert record["job_id"] == "evt-forged" and record["destination"] == forged.destination
    assert "does not exist in the state table" in record["reason"]
    assert lambda_root().state.get_job("evt-forged") is None  # no job appears for it
    assert named(capsys.readouterr().out, "Rejected", what="WorkItems")  # the EMF metric


def test_an_item_of_a_real_job_sent_outside_every_rule_is_rejected(stack: Stack) -> None:
    image = stack.push("team/app", "v2", seed=12)
    reply = stack.fire(stack.ecr_event(image, "team/app", "v2"))
    assert stack.work() == 1
    [legit] = lambda_root().state.list_items(reply["job_id"])
    before = len(stack.gar_proxy.requests)
    job_before = lambda_root().state.get_job(reply["job_id"])
    forged = WorkItem.model_validate_json(legit.work or "").model_copy(
        update={"destination": f"{GAR}/my-project/stolen/team/app:v2"}
    )
    forge(stack, forged)
    assert stack.work() == 1
    assert stack.gar_proxy.requests[before:] == []
    [record] = rejections(stack)
    assert record["job_id"] == reply["job_id"]
    assert "no current rule" in record["reason"] and "stolen" in record["reason"]
    # The job is untouched: no item added, no counter moved.
    assert lambda_root().state.get_job(reply["job_id"]) == job_before
    assert len(lambda_root().state.list_items(reply["job_id"])) == 1
