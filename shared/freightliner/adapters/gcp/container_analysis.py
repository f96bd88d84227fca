"""Artifact Registry vulnerability scans through the Container Analysis REST API.

Artifact Registry scans pushed images by itself (the Container Scanning API): nothing is
started here. An image's DISCOVERY occurrence carries the analysis status and its
VULNERABILITY occurrences the findings. The token is the Google OAuth access token the GAR
credential provider gives the registry client (`oauth2accesstoken`); the endpoint is
configurable the way boto3's endpoint_url is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from freightliner.adapters.gcp.google_rest import GoogleRest
from freightliner.domain.errors import Where
from freightliner.domain.reference import Reference
from freightliner.domain.scans import Finding, ScanObservation, ScanPhase, Severity
from freightliner.ports.credentials import CredentialProvider

DEFAULT_ENDPOINT = "https://containeranalysis.googleapis.com"
PAGE_SIZE = 1000  # the API's maximum

PHASES = {
    "ANALYSIS_STATUS_UNSPECIFIED": ScanPhase.WAITING,
    "PENDING": ScanPhase.WAITING,
    "SCANNING": ScanPhase.WAITING,
    "FINISHED_SUCCESS": ScanPhase.COMPLETE,
    "COMPLETE": ScanPhase.COMPLETE,  # the API's alias of FINISHED_SUCCESS
    "FINISHED_FAILED": ScanPhase.ERROR,
    "FINISHED_UNSUPPORTED": ScanPhase.ERROR,
}
"""DISCOVERY analysis statuses; one this table does not know is an ERROR."""


class ContainerAnalysisScanner:
    def __init__(
        self,
        http: httpx.Client,
        credentials: CredentialProvider,
        endpoint: str = DEFAULT_ENDPOINT,
    ) -> None:
        self._rest = GoogleRest(
            http, credentials, forbidden_hint="is the Container Analysis API enabled and allowed?"
        )
        self._endpoint = endpoint.rstrip("/")

    def observe(self, image: Reference, *, start: bool) -> ScanObservation:
        discovery = next(self._occurrences(image, "DISCOVERY"), None)
        if discovery is None:
            return ScanObservation(
                phase=ScanPhase.WAITING,
                status="NOT_SCANNED",
                description="no discovery occurrence yet (is container scanning enabled?)",
            )
        details = discovery.get("discovery") or {}
        status = str(details.get("analysisStatus") or "ANALYSIS_STATUS_UNSPECIFIED")
        error = details.get("analysisStatusError") or {}
        return ScanObservation(
            phase=PHASES.get(status, ScanPhase.ERROR),
            status=status,
            description=str(error.get("message", "")) if isinstance(error, dict) else "",
        )

    def findings(self, image: Reference) -> Iterator[Finding]:
        for occurrence in self._occurrences(image, "VULNERABILITY"):
            vulnerability = occurrence.get("vulnerability") or {}
            name = (
                vulnerability.get("shortDescription")
                or str(occurrence.get("noteName", "")).rsplit("/", 1)[-1]
                or "unnamed"
            )
            severity = vulnerability.get("effectiveSeverity") or vulnerability.get("severity")
            yield Finding(id=name, severity=Severity.parse(severity))

    def _occurrences(self, image: Reference, kind: str) -> Iterator[dict[str, Any]]:
        project = image.repository.split("/", 1)[0]
        resource = f"https://{image.registry}/{image.repository}@{image.digest}"
        params = {"filter": f'kind="{kind}" AND resourceUrl="{resource}"', "pageSize": PAGE_SIZE}
        where = Where(
            image.registry,
            image.repository,
            str(image.digest),
            f"containeranalysis occurrences.list {kind}",
        )
        url = f"{self._endpoint}/v1/projects/{project}/occurrences"
        return self._rest.pages(url, params, "occurrences", image.registry, where)
