"""The scan gate's two scan sources over real HTTP: ECR image scans in moto (server mode) and
Container Analysis through a loopback fake of its REST API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import httpx
import pytest

from freightliner.adapters.aws.ecr_scans import EcrImageScanner
from freightliner.adapters.aws.sessions import AwsClients
from freightliner.adapters.gcp.container_analysis import ContainerAnalysisScanner
from freightliner.domain.errors import Forbidden, RateLimited, Unauthorized, Unavailable
from freightliner.domain.reference import Reference
from freightliner.domain.scans import Finding, ScanPhase, Severity
from freightliner.domain.secrets import Redacted
from freightliner.harness.registry import free_port
from freightliner.harness.scan_gate import scan_result, script_ecr_scan
from freightliner.ports.credentials import Credential
from tests.support.container_analysis import (
    FakeContainerAnalysis,
    container_analysis,
    discovery,
)

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
GAR = "us-docker.pkg.dev"
TOKEN = "ya29.fresh-token-for-tests"


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


@pytest.fixture
def ecr(moto_endpoint: str) -> Iterator[tuple[str, object]]:
    client = boto3.client("ecr", region_name="us-east-1")
    client.create_repository(repositoryName="team/app")
    yield moto_endpoint, client


def put(client: object, n: int) -> Reference:
    manifest = json.dumps({"schemaVersion": 2, "layers": [], "n": n})
    client.put_image(  # type: ignore[attr-defined]
        repositoryName="team/app",
        imageManifest=manifest,
        imageManifestMediaType="application/vnd.oci.image.manifest.v1+json",
        imageTag=f"v{n}",
        imageDigest=digest(n),
    )
    return Reference.parse(f"{ECR}/team/app@{digest(n)}")


def scanner() -> EcrImageScanner:
    return EcrImageScanner(AwsClients())


@pytest.mark.parametrize(
    ("status", "phase"),
    [
        ("PENDING", ScanPhase.WAITING),
        ("IN_PROGRESS", ScanPhase.WAITING),
        ("COMPLETE", ScanPhase.COMPLETE),
        ("ACTIVE", ScanPhase.COMPLETE),
        ("FAILED", ScanPhase.ERROR),
        ("UNSUPPORTED_IMAGE", ScanPhase.ERROR),
        ("FINDINGS_UNAVAILABLE", ScanPhase.ERROR),
        ("SCAN_ELIGIBILITY_EXPIRED", ScanPhase.ERROR),
        ("SOMETHING_NEW", ScanPhase.ERROR),
    ],
)
def test_ecr_scan_statuses(ecr: tuple[str, object], status: str, phase: ScanPhase) -> None:
    moto_url, client = ecr
    image = put(client, 1)
    script_ecr_scan(moto_url, scan_result("team/app", digest(1), status, description="why"))
    seen = scanner().observe(image, start=True)
    assert (seen.phase, seen.status, seen.description) == (phase, status, "why")


def test_ecr_basic_scanning_starts_a_scan_once(ecr: tuple[str, object]) -> None:
    _, client = ecr
    image = put(client, 2)
    assert scanner().observe(image, start=False).status == "NOT_STARTED"
    assert scanner().observe(image, start=True).phase is ScanPhase.COMPLETE  # moto: done at once
    # Started already today (or by scan-on-push): ECR answers LimitExceeded, which is fine.
    assert scanner().observe(image, start=True).phase is ScanPhase.COMPLETE


def test_ecr_enhanced_scanning_starts_nothing(ecr: tuple[str, object]) -> None:
    _, client = ecr
    client.put_registry_scanning_configuration(scanType="ENHANCED", rules=[])  # type: ignore[attr-defined]
    image = put(client, 3)
    assert scanner().observe(image, start=True).status == "NOT_STARTED"
    assert scanner().observe(image, start=False).status == "NOT_STARTED"


def test_ecr_findings_basic_and_enhanced(ecr: tuple[str, object]) -> None:
    moto_url, client = ecr
    image = put(client, 4)
    result = scan_result(
        "team/app", digest(4), "ACTIVE", [("CVE-2024-1", "CRITICAL"), ("CVE-2024-2", "LOW")]
    )
    result["imageScanFindings"]["enhancedFindings"] = [
        {
            "severity": "HIGH",
            "status": "ACTIVE",
            "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-2024-3"},
        },
        {"severity": "UNTRIAGED", "title": "GHSA-xxxx"},
        {
            "severity": "CRITICAL",
            "status": "SUPPRESSED",
            "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-2024-4"},
        },
    ]
    script_ecr_scan(moto_url, result)
    scanner().observe(image, start=True)
    assert list(scanner().findings(image)) == [
        Finding(id="CVE-2024-1", severity=Severity.CRITICAL),
        Finding(id="CVE-2024-2", severity=Severity.LOW),
        Finding(id="CVE-2024-3", severity=Severity.HIGH),
        Finding(id="GHSA-xxxx", severity=Severity.UNDEFINED),
    ]


class Tokens:
    """A credential provider whose first token has expired; invalidate() yields a fresh one."""

    def __init__(
        self, first: str = "stale", username: str = "oauth2accesstoken", fresh: str = TOKEN
    ) -> None:
        self.current = first
        self.username = username
        self.fresh = fresh
        self.invalidated = 0

    def get(self, registry: str) -> Credential | None:
        assert registry == GAR
        return Credential(username=self.username, password=Redacted(self.current))

    def invalidate(self, registry: str) -> None:
        self.invalidated += 1
        self.current = self.fresh


@pytest.fixture
def analysis() -> Iterator[FakeContainerAnalysis]:
    with container_analysis(TOKEN) as fake:
        yield fake


def gar_image(n: int) -> tuple[Reference, str]:
    image = Reference.parse(f"{GAR}/my-project/apps/app@{digest(n)}")
    return image, f"https://{GAR}/my-project/apps/app@{digest(n)}"


def gar_scanner(
    fake: FakeContainerAnalysis, tokens: Tokens | None = None
) -> ContainerAnalysisScanner:
    return ContainerAnalysisScanner(httpx.Client(), tokens or Tokens(TOKEN), fake.url)


def test_container_analysis_statuses(analysis: FakeContainerAnalysis) -> None:
    image, resource = gar_image(1)
    analysis.script(
        resource,
        None,
        discovery("PENDING"),
        discovery("SCANNING"),
        discovery("FINISHED_FAILED", "could not extract the image"),
        discovery("FINISHED_UNSUPPORTED"),
        discovery("FINISHED_SUCCESS"),
    )
    scan = gar_scanner(analysis)
    seen = [scan.observe(image, start=True) for _ in range(6)]
    assert [(s.phase, s.status) for s in seen] == [
        (ScanPhase.WAITING, "NOT_SCANNED"),
        (ScanPhase.WAITING, "PENDING"),
        (ScanPhase.WAITING, "SCANNING"),
        (ScanPhase.ERROR, "FINISHED_FAILED"),
        (ScanPhase.ERROR, "FINISHED_UNSUPPORTED"),
        (ScanPhase.COMPLETE, "FINISHED_SUCCESS"),
    ]
    assert seen[3].description == "could not extract the image"
    request = analysis.seen[0]
    assert (request.project, request.kind, request.resource) == (
        "my-project",
        "DISCOVERY",
        resource,
    )
    assert request.authorization == f"Bearer {TOKEN}"


def test_container_analysis_findings_follow_every_page(analysis: FakeContainerAnalysis) -> None:
    image, resource = gar_image(2)
    analysis.vulnerabilities[resource] = [
        ("CVE-2024-10", "CRITICAL"),
        ("CVE-2024-11", "HIGH"),
        ("CVE-2024-12", "MINIMAL"),
        ("CVE-2024-13", "SEVERITY_UNSPECIFIED"),
        ("CVE-2024-14", "LOW"),
    ]
    found = list(gar_scanner(analysis).findings(image))
    assert [(f.id, f.severity) for f in found] == [
        ("CVE-2024-10", Severity.CRITICAL),
        ("CVE-2024-11", Severity.HIGH),
        ("CVE-2024-12", Severity.INFORMATIONAL),
        ("CVE-2024-13", Severity.UNDEFINED),
        ("CVE-2024-14", Severity.LOW),
    ]
    assert [s.page_token for s in analysis.seen] == ["", "2", "4"]


def test_container_analysis_refreshes_an_expired_token_once(
    analysis: FakeContainerAnalysis,
) -> None:
    image, resource = gar_image(3)
    analysis.script(resource, discovery("FINISHED_SUCCESS"))
    tokens = Tokens(first="expired")
    assert gar_scanner(analysis, tokens).observe(image, start=True).status == "FINISHED_SUCCESS"
    assert tokens.invalidated == 1
    revoked = Tokens(first="revoked", fresh="revoked")
    with pytest.raises(Unauthorized, match="HTTP 401: Request had invalid authentication"):
        gar_scanner(analysis, revoked).observe(image, start=True)
    assert revoked.invalidated == 1  # one refresh, then the error


def test_container_analysis_errors_keep_their_kind_and_never_the_token(
    analysis: FakeContainerAnalysis,
) -> None:
    image, _ = gar_image(4)
    scan = gar_scanner(analysis)
    analysis.faults.append((403, "Container Analysis API has not been used in project"))
    with pytest.raises(Forbidden, match="has not been used in project") as denied:
        scan.observe(image, start=True)
    analysis.faults.append((429, "Quota exceeded"))
    with pytest.raises(RateLimited):
        scan.observe(image, start=True)
    analysis.faults.append((503, "backend unavailable"))
    with pytest.raises(Unavailable, match="HTTP 503"):
        scan.observe(image, start=True)
    with pytest.raises(Unauthorized, match="needs a Google OAuth access token"):
        gar_scanner(analysis, Tokens(TOKEN, username="_json_key")).observe(image, start=True)
    down = ContainerAnalysisScanner(
        httpx.Client(), Tokens(TOKEN), f"http://127.0.0.1:{free_port()}"
    )
    with pytest.raises(Unavailable, match="connection failed") as unreachable:
        down.observe(image, start=True)
    for caught in (denied, unreachable):
        assert TOKEN not in str(caught.value)
        assert "occurrences.list DISCOVERY us-docker.pkg.dev/my-project/apps/app" in str(
            caught.value
        )
