"""The scan gate's decisions (pure): policies from rules documents, findings against limits,
and what check_scan says next for each scan state, with an in-memory scanner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from freightliner.domain.errors import InvalidInput
from freightliner.domain.events import ScanFinished
from freightliner.domain.reference import Reference
from freightliner.domain.rules import parse_rules
from freightliner.domain.scans import (
    Finding,
    ScanObservation,
    ScanPhase,
    ScanPolicy,
    Severity,
    evaluate_findings,
)
from freightliner.domain.work import GateRequest, WorkItem, gate_execution_name
from freightliner.engine.gate.scan_gate import CheckScanRequest, ScanTask, check_scan, evaluate_scan

EVENTS = Path(__file__).resolve().parents[2] / "events"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
DIGEST = "sha256:" + "ef" * 32
ITEM = WorkItem(
    job_id="evt-1",
    source=f"{ECR}/team/app@{DIGEST}",
    destination="us-docker.pkg.dev/p/mirror/team/app:v1",
    source_digest=DIGEST,
    rule="gated",
    correlation_id="c-1",
)
STARTED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def findings(*pairs: tuple[str, str]) -> list[Finding]:
    return [Finding(id=i, severity=Severity.parse(s)) for i, s in pairs]


def rules_with(gate: str) -> str:
    return (
        "rules:\n  - name: gated\n"
        f"    source: {{registry: {ECR}, repository: 'team/*'}}\n"
        "    destinations: [{registry: ghcr.io, repository: 'o/{name}'}]\n"
        f"    scan_gate: {gate}\n"
    )


def test_rules_turn_scan_gate_into_a_policy() -> None:
    assert parse_rules(rules_with("false")).rules[0].scan_gate is None
    assert parse_rules(rules_with("true")).rules[0].scan_gate == ScanPolicy()
    tuned = parse_rules(
        rules_with(
            "{max_findings: {CRITICAL: 0, HIGH: 3}, allow: [cve-2024-1], on_scan_error: allow}"
        )
    ).rules[0]
    assert tuned.scan_gate is not None
    assert tuned.scan_gate.max_findings == {Severity.CRITICAL: 0, Severity.HIGH: 3}
    assert tuned.scan_gate.allow == ["CVE-2024-1"] and tuned.scan_gate.on_scan_error == "allow"


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        ("{on_scan_error: ignore}", "scan_gate.on_scan_error"),
        ("{max_findings: {SEVERE: 1}}", "scan_gate.max_findings.SEVERE"),
        ("{max_findings: {HIGH: -1}}", "limits must be 0 or more"),
        ("{first_wait_seconds: 10, max_wait_seconds: 5}", "must not be below first_wait"),
        ("{timeout_seconds: 86400, max_wait_seconds: 30}", "25,000 events"),
        ("{allow: ['CVE 1']}", "not finding ids"),
        ("{timeout: 5}", "scan_gate.timeout: Extra inputs"),
    ],
)
def test_bad_gate_policies_name_the_line_and_field(gate: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=r"rules:5: rules\.0\.scan_gate") as caught:
        parse_rules(rules_with(gate), "rules")
    assert message in str(caught.value)


def test_default_policy_blocks_on_any_critical() -> None:
    verdict = evaluate_findings(
        findings(("CVE-1", "CRITICAL"), ("CVE-2", "HIGH"), ("CVE-3", "HIGH")), ScanPolicy()
    )
    assert not verdict.allowed
    assert verdict.counts == {Severity.CRITICAL: 1, Severity.HIGH: 2}
    assert verdict.reason == "1 CRITICAL finding(s), at most 0 allowed (CVE-1)"
    clean = evaluate_findings(findings(("CVE-2", "HIGH")), ScanPolicy())
    assert clean.allowed and clean.reason == "within policy: 1 HIGH"
    assert evaluate_findings([], ScanPolicy()).reason == "within policy: no findings"


def test_limits_per_severity_and_the_allow_list() -> None:
    policy = ScanPolicy(
        max_findings={Severity.CRITICAL: 0, Severity.HIGH: 1}, allow=["CVE-2024-0001"]
    )
    found = findings(("cve-2024-0001", "CRITICAL"), ("CVE-5", "HIGH"), ("CVE-6", "MEDIUM"))
    verdict = evaluate_findings(found, policy)
    assert verdict.allowed and verdict.allow_listed == ["CVE-2024-0001"]
    assert verdict.counts == {Severity.HIGH: 1, Severity.MEDIUM: 1}
    over = evaluate_findings([*found, *findings(("CVE-7", "HIGH"), ("CVE-8", "CRITICAL"))], policy)
    assert not over.allowed
    assert over.reason == (
        "1 CRITICAL finding(s), at most 0 allowed (CVE-8); "
        "2 HIGH finding(s), at most 1 allowed (CVE-5, CVE-7)"
    )


def test_severities_from_every_scanner_map_onto_one_scale() -> None:
    assert Severity.parse("MINIMAL") is Severity.INFORMATIONAL
    assert Severity.parse("UNTRIAGED") is Severity.UNDEFINED
    assert Severity.parse("SEVERITY_UNSPECIFIED") is Severity.UNDEFINED
    assert Severity.parse("high") is Severity.HIGH
    assert Severity.parse(None) is Severity.UNDEFINED


def test_waits_double_from_two_seconds_up_to_thirty() -> None:
    assert [ScanPolicy().wait_before(n) for n in range(7)] == [2, 4, 8, 16, 30, 30, 30]
    assert ScanPolicy().wait_before(500) == 30


def test_gate_executions_are_named_per_digest_and_destination() -> None:
    request = GateRequest(item=ITEM, policy=ScanPolicy())
    again = GateRequest(item=ITEM.model_copy(update={"job_id": "evt-2"}), policy=ScanPolicy())
    assert request.execution_name == again.execution_name
    assert request.execution_name == gate_execution_name(DIGEST, ITEM.destination)
    other = ITEM.model_copy(update={"destination": "us-docker.pkg.dev/p/mirror/team/app:v2"})
    assert GateRequest(item=other, policy=ScanPolicy()).execution_name != request.execution_name
    assert len(request.execution_name) <= 80
    dumped = request.model_dump(mode="json")
    assert dumped["item_id"] == ITEM.item_id and dumped["correlation_id"] == "c-1"


class FakeScanners:
    """An in-memory ImageScanner for every host: observations in turn, then the last again."""

    def __init__(self, *seen: ScanObservation, found: list[Finding] | None = None) -> None:
        self.seen = list(seen)
        self.found = found or []
        self.starts: list[bool] = []

    def scanner(self, host: str) -> FakeScanners:
        assert host == ECR
        return self

    def observe(self, image: Reference, *, start: bool) -> ScanObservation:
        assert str(image) == ITEM.source
        self.starts.append(start)
        return self.seen.pop(0) if len(self.seen) > 1 else self.seen[0]

    def findings(self, image: Reference) -> Iterator[Finding]:
        yield from self.found


def waiting(status: str = "IN_PROGRESS") -> ScanObservation:
    return ScanObservation(phase=ScanPhase.WAITING, status=status)


def check(scanners: FakeScanners, attempt: int, elapsed: float, policy: ScanPolicy) -> str:
    request = CheckScanRequest(item=ITEM, policy=policy, attempt=attempt, started_at=STARTED)
    result = check_scan(request, scanners, clock=lambda: STARTED.timestamp() + elapsed)
    assert result.attempt == attempt + 1
    return f"{result.next} {result.wait_seconds} {result.reason}".strip()


def test_a_running_scan_is_checked_again_after_a_growing_wait() -> None:
    scanners = FakeScanners(waiting())
    policy = ScanPolicy()
    assert [check(scanners, n, 10.0, policy) for n in range(6)] == [
        "wait 2",
        "wait 4",
        "wait 8",
        "wait 16",
        "wait 30",
        "wait 30",
    ]
    assert scanners.starts == [True, False, False, False, False, False]  # asked for once


def test_the_last_wait_ends_at_the_timeout_and_then_on_scan_error_decides() -> None:
    scanners = FakeScanners(waiting("PENDING"))
    policy = ScanPolicy(timeout_seconds=100)
    assert check(scanners, 9, 95.5, policy) == "wait 5"
    assert check(scanners, 10, 100.0, policy) == (
        "block 0 no scan result within 100 s, last status PENDING (on_scan_error: block)"
    )
    lenient = ScanPolicy(timeout_seconds=100, on_scan_error="allow")
    assert check(scanners, 10, 130.0, lenient).startswith("allow 0 no scan result within 100 s")


def test_failed_scans_follow_on_scan_error_and_complete_ones_go_to_evaluation() -> None:
    failed = ScanObservation(phase=ScanPhase.ERROR, status="FAILED", description="boom")
    assert check(FakeScanners(failed), 0, 1.0, ScanPolicy()) == (
        "block 0 scan FAILED: boom (on_scan_error: block)"
    )
    lenient = ScanPolicy(on_scan_error="allow")
    assert check(FakeScanners(failed), 0, 1.0, lenient) == (
        "allow 0 scan FAILED: boom (on_scan_error: allow)"
    )
    done = ScanObservation(phase=ScanPhase.COMPLETE, status="ACTIVE")
    assert check(FakeScanners(done), 3, 1.0, ScanPolicy()) == "evaluate 0"


def test_evaluation_reads_every_finding_of_the_image() -> None:
    scanners = FakeScanners(waiting(), found=findings(("CVE-9", "CRITICAL")))
    verdict = evaluate_scan(ScanTask(item=ITEM, policy=ScanPolicy()), scanners)
    assert not verdict.allowed and verdict.counts == {Severity.CRITICAL: 1}


def test_an_item_not_pinned_by_digest_is_refused() -> None:
    unpinned = ITEM.model_copy(update={"source": f"{ECR}/team/app:v1"})
    with pytest.raises(InvalidInput, match="not pinned by digest"):
        evaluate_scan(ScanTask(item=unpinned, policy=ScanPolicy()), FakeScanners(waiting()))


def test_basic_and_enhanced_scan_events_name_the_same_image() -> None:
    """Inspector2 puts the repository's ARN in `repository-name`; ECR its name."""
    expected = (
        f"{ECR}/team/app@sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234abcd"
    )
    for sample in ("ecr-scan-complete.json", "inspector2-scan.json"):
        event = json.loads((EVENTS / sample).read_text())
        assert ScanFinished.model_validate(event).image() == expected
    event = json.loads((EVENTS / "inspector2-scan.json").read_text())
    event["detail"]["repository-name"] = "arn:aws:ecr:us-east-1:123456789012:team/app"
    with pytest.raises(InvalidInput, match="not an ECR repository ARN"):
        ScanFinished.model_validate(event).image()
    event["detail-type"] = "ECR Image Action"
    with pytest.raises(ValidationError, match="detail-type"):
        ScanFinished.model_validate(event)
