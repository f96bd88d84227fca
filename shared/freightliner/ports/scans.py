"""The vulnerability-scan port the scan gate reads: ECR's image scans or Artifact Registry's
Container Analysis occurrences, behind one interface."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from freightliner.domain.reference import Reference
from freightliner.domain.scans import Finding, ScanObservation


class ImageScanner(Protocol):
    def observe(self, image: Reference, *, start: bool) -> ScanObservation:
        """Where the scan of `image` (pinned by digest) stands. With `start`, ask for a scan
        first where the registry scans on request; one already running or done is fine."""
        ...

    def findings(self, image: Reference) -> Iterator[Finding]:
        """Every finding of the image's completed scan, across all pages."""
        ...


class ScannerSource(Protocol):
    def scanner(self, host: str) -> ImageScanner:
        """The scanner for a registry host; Unsupported where the registry has none."""
        ...
