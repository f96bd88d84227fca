"""Vulnerability scans as the scan gate sees them: where a scan stands, what it found, and the
rule's policy that decides whether an image may be replicated.

ECR (basic and enhanced) and Artifact Registry name severities and scan states differently;
the adapters translate them into these few values so one policy applies to both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SEVERITY_ALIASES = {
    "MINIMAL": "INFORMATIONAL",  # Container Analysis
    "SEVERITY_UNSPECIFIED": "UNDEFINED",  # Container Analysis
    "UNTRIAGED": "UNDEFINED",  # Inspector (ECR enhanced scanning)
}


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    INFORMATIONAL = "INFORMATIONAL"
    UNDEFINED = "UNDEFINED"

    @classmethod
    def parse(cls, raw: str | None) -> Severity:
        """Any scanner's severity name; unknown or missing ones count as UNDEFINED."""
        name = (raw or "").upper()
        name = SEVERITY_ALIASES.get(name, name)
        return cls(name) if name in cls.__members__ else cls.UNDEFINED


class ScanPhase(StrEnum):
    """What a scan's state means for the gate."""

    WAITING = "WAITING"  # not started, queued or running: check again later
    COMPLETE = "COMPLETE"  # findings are available
    ERROR = "ERROR"  # the scan failed or cannot run: the rule's on_scan_error decides


class ScanObservation(BaseModel):
    """One look at an image's scan: the normalised phase and the registry's own words."""

    phase: ScanPhase
    status: str = Field(description="the scanner's status, e.g. IN_PROGRESS or FINISHED_FAILED")
    description: str = ""


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(description="CVE-…, GHSA-… or the scanner's own finding name")
    severity: Severity


MAX_CHECKS = 1500  # about 13 history events per check and its (callback) wait
_FINDING_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")


class ScanPolicy(BaseModel):
    """A rule's scan gate: what blocks an image, and how long and how often to look."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_findings: dict[Severity, int] = Field(
        default_factory=lambda: {Severity.CRITICAL: 0},
        description="at most this many findings per severity; severities not listed are free",
    )
    allow: list[str] = Field(
        default_factory=list, description="finding ids (CVE-2024-1234) that never block"
    )
    on_scan_error: Literal["block", "allow"] = Field(
        default="block",
        description="failed, unsupported or timed-out scans block the image, or let it pass",
    )
    timeout_seconds: int = Field(default=1800, ge=1, le=7 * 24 * 3600)
    first_wait_seconds: int = Field(default=2, ge=1, le=3600)
    max_wait_seconds: int = Field(default=30, ge=1, le=3600)

    @field_validator("max_findings")
    @classmethod
    def _limits(cls, value: dict[Severity, int]) -> dict[Severity, int]:
        if any(limit < 0 for limit in value.values()):
            raise ValueError("limits must be 0 or more")
        return value

    @field_validator("allow")
    @classmethod
    def _ids(cls, values: list[str]) -> list[str]:
        bad = [v for v in values if not _FINDING_ID.match(v)]
        if bad:
            raise ValueError(f"not finding ids: {bad}")
        return [v.upper() for v in values]

    @model_validator(mode="after")
    def _waits(self) -> ScanPolicy:
        if self.max_wait_seconds < self.first_wait_seconds:
            raise ValueError("max_wait_seconds must not be below first_wait_seconds")
        if self.timeout_seconds > MAX_CHECKS * self.max_wait_seconds:
            raise ValueError(
                f"timeout_seconds allows more than {MAX_CHECKS} checks, more history than a "
                "Step Functions execution may hold (25,000 events): raise max_wait_seconds"
            )
        return self

    def wait_before(self, attempt: int) -> int:
        """Seconds to wait after the `attempt`-th check (0-based): doubling, capped."""
        doubled: int = self.first_wait_seconds * 2 ** min(attempt, 30)
        return min(doubled, self.max_wait_seconds)


class Verdict(BaseModel):
    """The policy applied to a completed scan."""

    allowed: bool
    counts: dict[Severity, int] = Field(description="findings per severity, allow-list excluded")
    allow_listed: list[str] = Field(default_factory=list, description="allowed ids that were found")
    reason: str


def evaluate_findings(findings: Iterable[Finding], policy: ScanPolicy) -> Verdict:
    """Count findings per severity (allow-listed ids aside) and compare with the limits."""
    allowed_ids = set(policy.allow)
    listed: set[str] = set()
    ids: dict[Severity, list[str]] = {}
    for finding in findings:
        if finding.id.upper() in allowed_ids:
            listed.add(finding.id.upper())
            continue
        ids.setdefault(finding.severity, []).append(finding.id)
    counts = {s: len(ids[s]) for s in Severity if s in ids}
    over = [
        (severity, counts[severity], limit)
        for severity in Severity
        if (limit := policy.max_findings.get(severity)) is not None
        and counts.get(severity, 0) > limit
    ]
    if over:
        reason = "; ".join(
            f"{count} {severity} finding(s), at most {limit} allowed "
            f"({', '.join(sorted(set(ids[severity]))[:5])})"
            for severity, count, limit in over
        )
        return Verdict(allowed=False, counts=counts, allow_listed=sorted(listed), reason=reason)
    summary = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no findings"
    return Verdict(
        allowed=True, counts=counts, allow_listed=sorted(listed), reason=f"within policy: {summary}"
    )
