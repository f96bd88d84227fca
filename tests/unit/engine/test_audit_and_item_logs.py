"""The audit trail and the item outcome lines, in process: each of the four audited actions
(copy, mirrored delete, gate verdict, secret write) emits exactly one audit event with its
fields; a permanent failure is one ERROR line with the filterable keys; no engine message
carries a full 64-hex digest."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from freightliner.domain.secrets import SecretDeletion, SecretSummary, SecretText, SecretValue
from freightliner.domain.secrets import SecretVersion as Version
from freightliner.domain.work import GateOutcome
from freightliner.engine.audit import AUDIT_LOGGER, AUDIT_MARKER
from freightliner.engine.gate.scan_gate import RecordGateRequest, record_gate_outcome
from freightliner.engine.secrets import delete_secret, put_secret
from tests.support.oci_images import layer, push_image
from tests.unit.engine.test_gate import BLOCK, PASS, Deployment
from tests.unit.engine.test_worker import DST, SRC, Worker, push_app

FULL_HEX = re.compile(r"[0-9a-f]{64}")
FIELDS = {"audit", "time", "trigger", "source", "destination", "digest", "outcome", "detail"}


def audits(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    found = [vars(r) for r in caplog.records if r.name == AUDIT_LOGGER]
    for event in found:
        assert event["log_type"] == AUDIT_MARKER
        assert set(event) >= FIELDS
    return found


@pytest.fixture(autouse=True)
def _capture(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with caplog.at_level(logging.INFO, logger="freightliner"):
        yield


def test_a_copy_emits_one_audit_event_and_a_duplicate_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = Worker()
    image = push_app(worker)
    item = worker.accept(image)
    worker.run(item)
    worker.run(item)  # a duplicate delivery: no work, no second event
    [event] = audits(caplog)
    assert event["audit"] == "copy" and event["outcome"] == "done"
    assert event["source"] == item.source and event["destination"] == f"{DST}/mirror/app:v1"
    assert event["digest"] == image.digest.short
    assert event["trigger"] == {
        "job_id": item.job_id,
        "job_kind": "event",
        "rule": "mirror",
        "correlation_id": item.trace_id,
        "principal": "",
    }


def test_a_failed_copy_is_one_audit_event_and_one_error_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = Worker()
    image = push_app(worker)
    worker.registries.client(SRC).delete_manifest("team/app", image.digest)
    item = worker.accept(image)
    worker.run(item)
    [event] = audits(caplog)
    assert (event["audit"], event["outcome"]) == ("copy", "failed")
    assert event["detail"] == {"error_kind": "not_found"}
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    fields = vars(error)
    assert fields["error_kind"] == "not_found" and "manifest unknown" in fields["error"]
    assert (fields["job_id"], fields["item_id"], fields["attempt"]) == (
        item.job_id,
        item.item_id,
        1,
    )
    assert (fields["source"], fields["destination"]) == (item.source, item.destination)
    assert fields["digest"] == image.digest.short and fields["outcome"] == "failed"
    assert not [
        r for r in caplog.records if r.levelno == logging.WARNING and r.name != AUDIT_LOGGER
    ]


def test_a_mirrored_delete_emits_one_audit_event(caplog: pytest.LogCaptureFixture) -> None:
    worker = Worker()
    replicated = push_image(worker.registries.client(DST), "mirror/app", "v1", [layer(1)])
    item = worker.accept(replicated, action="delete", tag="v1", event_id="del")
    worker.run(item)
    [event] = audits(caplog)
    assert (event["audit"], event["outcome"]) == ("delete", "done")
    assert event["destination"] == f"{DST}/mirror/app:v1"
    assert event["digest"] == replicated.digest.short


@pytest.mark.parametrize(("outcome", "word"), [(PASS, "passed"), (BLOCK, "blocked")])
def test_a_gate_verdict_emits_one_audit_event(
    caplog: pytest.LogCaptureFixture, outcome: GateOutcome, word: str
) -> None:
    deployment = Deployment()
    deployment.accept(deployment.push())
    held = deployment.held()
    deployment.decide(held, outcome)
    [event] = audits(caplog)
    assert (event["audit"], event["outcome"]) == ("gate_verdict", word)
    assert event["source"] == held.item.source and event["destination"] == held.item.destination
    assert event["digest"] == held.item.source_digest.split(":")[1][:12]
    assert event["detail"]["reason"] == outcome.reason
    assert event["detail"]["execution"] == held.execution_name
    assert event["trigger"]["job_id"] == held.item.job_id


def test_a_hold_recorded_again_by_a_retried_task_is_not_audited_twice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    deployment = Deployment()
    deployment.accept(deployment.push())
    held = deployment.held()
    deployment.decide(held, BLOCK)
    again = RecordGateRequest(
        item=held.item, policy=held.policy, outcome=BLOCK, execution=held.execution_name
    )
    assert not record_gate_outcome(again, deployment.state, deployment.notifier).recorded
    assert len(audits(caplog)) == 1


class _Store:
    """A secret store in memory: the audit event names its kind, location and caller."""

    kind = "aws"
    location = "eu-west-1"

    def put(self, name: str, value: SecretText) -> Version:
        return Version(name=name, version="v-1")

    def get(self, name: str, version: str | None = None, stage: str | None = None) -> SecretValue:
        raise NotImplementedError

    def delete(
        self, name: str, *, force: bool = False, version: str | None = None, recovery_days: int = 30
    ) -> SecretDeletion:
        return SecretDeletion(name=name)

    def list(self) -> Iterator[SecretSummary]:
        return iter(())

    def caller_identity(self) -> str:
        return "arn:aws:iam::123456789012:user/ops"


def test_a_secret_write_emits_one_audit_event_without_the_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = _Store()
    put_secret(store, "registry/ghcr", "s3cr3t-value-never-logged")  # type: ignore[arg-type]
    [event] = audits(caplog)
    assert (event["audit"], event["outcome"]) == ("secret_write", "success")
    assert event["trigger"]["principal"] == "arn:aws:iam::123456789012:user/ops"
    assert event["destination"] == "aws:eu-west-1/registry/ghcr"
    assert event["detail"] == {
        "operation": "put",
        "secret": "registry/ghcr",
        "store": "aws:eu-west-1",
        "version": "v-1",
    }
    caplog.clear()
    delete_secret(store, "registry/ghcr", force=True)  # type: ignore[arg-type]
    [deleted] = audits(caplog)
    assert deleted["detail"]["operation"] == "force-delete"
    assert "s3cr3t-value-never-logged" not in caplog.text


def test_no_engine_message_carries_a_full_digest(caplog: pytest.LogCaptureFixture) -> None:
    worker = Worker()
    image = push_app(worker)
    worker.run(worker.accept(image))
    failing = push_image(worker.registries.client(SRC), "team/app", "v2", [layer(7)])
    worker.registries.client(SRC).delete_manifest("team/app", failing.digest)
    worker.run(worker.accept(failing, tag="v2", event_id="e-2"))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) >= 4
    assert not [m for m in messages if FULL_HEX.search(m)]
