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

from freightliner.adapters.gcp.gar_auth import TOKEN_USER
from freightliner.domain.errors import (
    Forbidden,
    FreightlinerError,
    InvalidInput,
    NotFound,
    RateLimited,
    Timeout,
    Unauthorized,
    Unavailable,
    Where,
)
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


def _message(response: httpx.Response) -> str:
    """Google's error message, if the body has one (it never carries the token)."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return ""
    return str(error.get("message", "")) if isinstance(error, dict) else ""


def _error(response: httpx.Response, where: Where) -> FreightlinerError:
    status = response.status_code
    detail = _message(response)
    text = f"HTTP {status}" + (f": {detail}" if detail else "")
    if status == 429:
        return RateLimited(text, where)
    if status >= 500:
        return Unavailable(text, where)
    if status == 401:
        return Unauthorized(text, where)
    if status == 403:
        return Forbidden(f"{text} (is the Container Analysis API enabled and allowed?)", where)
    if status == 404:
        return NotFound(text, where)
    return InvalidInput(text, where)


class ContainerAnalysisScanner:
    def __init__(
        self,
        http: httpx.Client,
        credentials: CredentialProvider,
        endpoint: str = DEFAULT_ENDPOINT,
    ) -> None:
        self._http = http  # built (and closed) by the composition root
        self._credentials = credentials
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
        while True:
            body = self._get(url, params, image.registry, where)
            yield from body.get("occurrences") or []
            token = body.get("nextPageToken")
            if not token:
                return
            params["pageToken"] = token

    def _get(self, url: str, params: dict[str, Any], registry: str, where: Where) -> dict[str, Any]:
        """One page; a 401 refreshes the token once."""
        response = self._send(url, params, registry, where)
        if response.status_code == 401:
            self._credentials.invalidate(registry)
            response = self._send(url, params, registry, where)
        if not response.is_success:
            raise _error(response, where)
        try:
            body = response.json()
        except ValueError:
            raise Unavailable("the answer is not JSON", where) from None
        return body if isinstance(body, dict) else {}

    def _send(
        self, url: str, params: dict[str, Any], registry: str, where: Where
    ) -> httpx.Response:
        try:
            return self._http.get(url, params=params, headers=self._auth(registry, where))
        except httpx.TimeoutException:
            raise Timeout("request timed out", where) from None
        except httpx.TransportError as exc:
            raise Unavailable(f"connection failed ({type(exc).__name__})", where) from None

    def _auth(self, registry: str, where: Where) -> dict[str, str]:
        credential = self._credentials.get(registry)
        if credential is None:
            return {}
        if credential.username != TOKEN_USER:
            raise Unauthorized(
                "Container Analysis needs a Google OAuth access token: give this registry "
                "auth kind gar (application-default credentials or a service-account key)",
                where,
            )
        return {"Authorization": f"Bearer {credential.password.get_secret_value()}"}
