"""ECR image scans for the scan gate, through DescribeImageScanFindings.

Basic scanning runs on request: the first look starts a scan (StartImageScan), and a scan
that scan-on-push already started, or one that ran today, is fine (LimitExceededException).
Enhanced scanning (Amazon Inspector) scans by itself: nothing is started, and ACTIVE means
the image is monitored and its findings are current. The registry's scan type is that of the
caller's account (GetRegistryScanningConfiguration has no registry id).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.ecr_auth import EcrTarget, ecr_target
from freightliner.adapters.aws.errors import aws_error, error_code
from freightliner.adapters.aws.sessions import AwsClientSource
from freightliner.domain.errors import Where
from freightliner.domain.reference import Reference
from freightliner.domain.scans import Finding, ScanObservation, ScanPhase, Severity

PHASES = {
    "PENDING": ScanPhase.WAITING,
    "IN_PROGRESS": ScanPhase.WAITING,
    "COMPLETE": ScanPhase.COMPLETE,
    "ACTIVE": ScanPhase.COMPLETE,
    "FAILED": ScanPhase.ERROR,
    "UNSUPPORTED_IMAGE": ScanPhase.ERROR,
    "FINDINGS_UNAVAILABLE": ScanPhase.ERROR,
    "SCAN_ELIGIBILITY_EXPIRED": ScanPhase.ERROR,
}
"""ECR scan statuses; one this table does not know is an ERROR (the policy decides)."""

_INACTIVE_FINDINGS = {"SUPPRESSED", "CLOSED"}


class EcrImageScanner:
    def __init__(
        self, clients: AwsClientSource, targets: Mapping[str, EcrTarget] | None = None
    ) -> None:
        self._clients = clients
        self._targets = dict(targets or {})

    def _target(self, image: Reference, operation: str) -> tuple[Any, dict[str, Any], Where]:
        target = ecr_target(image.registry, self._targets)
        identity = {
            "registryId": target.registry_id,
            "repositoryName": image.repository,
            "imageId": {"imageDigest": str(image.digest)},
        }
        where = Where(image.registry, image.repository, str(image.digest), operation)
        return self._clients.client("ecr", target.region, target.role_arn), identity, where

    def observe(self, image: Reference, *, start: bool) -> ScanObservation:
        client, identity, where = self._target(image, "ecr:DescribeImageScanFindings")
        if start:
            refused = self._start(client, identity, where)
            if refused is not None:
                return refused
        try:
            response = client.describe_image_scan_findings(**identity, maxResults=1)
        except ClientError as exc:
            if error_code(exc) == "ScanNotFoundException":
                return ScanObservation(
                    phase=ScanPhase.WAITING, status="NOT_STARTED", description="no scan yet"
                )
            raise aws_error(exc, where) from None
        except BotoCoreError as exc:
            raise aws_error(exc, where) from None
        scan = response.get("imageScanStatus") or {}
        status = str(scan.get("status") or "UNKNOWN")
        return ScanObservation(
            phase=PHASES.get(status, ScanPhase.ERROR),
            status=status,
            description=str(scan.get("description") or ""),
        )

    def _start(self, client: Any, identity: dict[str, Any], where: Where) -> ScanObservation | None:
        """Start a basic scan; an observation only when ECR refuses to scan this image."""
        where = replace(where, operation="ecr:GetRegistryScanningConfiguration")
        try:
            config = client.get_registry_scanning_configuration()["scanningConfiguration"]
            if config.get("scanType", "BASIC") != "BASIC":
                return None  # enhanced scanning: Inspector scans on its own
            where = replace(where, operation="ecr:StartImageScan")
            client.start_image_scan(**identity)
        except ClientError as exc:
            if error_code(exc) == "LimitExceededException":
                return None  # scan-on-push started one, or it was scanned today
            if error_code(exc) == "UnsupportedImageTypeException":
                return ScanObservation(
                    phase=ScanPhase.ERROR,
                    status="UNSUPPORTED_IMAGE",
                    description=str(exc.response.get("Error", {}).get("Message", "")),
                )
            raise aws_error(exc, where) from None
        except BotoCoreError as exc:
            raise aws_error(exc, where) from None
        return None

    def findings(self, image: Reference) -> Iterator[Finding]:
        client, identity, where = self._target(image, "ecr:DescribeImageScanFindings")
        try:
            for page in client.get_paginator("describe_image_scan_findings").paginate(**identity):
                found = page.get("imageScanFindings") or {}
                for basic in found.get("findings", []):
                    yield Finding(id=basic["name"], severity=Severity.parse(basic.get("severity")))
                for enhanced in found.get("enhancedFindings", []):
                    if enhanced.get("status") in _INACTIVE_FINDINGS:
                        continue
                    details = enhanced.get("packageVulnerabilityDetails") or {}
                    name = details.get("vulnerabilityId") or enhanced.get("title") or "unnamed"
                    yield Finding(id=name, severity=Severity.parse(enhanced.get("severity")))
        except (ClientError, BotoCoreError) as exc:
            raise aws_error(exc, where) from None
