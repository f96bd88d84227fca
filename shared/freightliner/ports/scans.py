"""The vulnerability-scan ports of the scan gate: the scans it reads (ECR's image scans or
Artifact Registry's Container Analysis occurrences, behind one interface), and the waits it
parks so that a scan-finished event can cut them short."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


class ScanWaits(Protocol):
    """Task tokens of gates waiting on an image's scan, kept until their wait is over."""

    def park(self, image: str, token: str, seconds: int) -> None:
        """Keep `token` under `image` (`registry/repository@digest`) for `seconds`."""
        ...

    def parked(self, image: str) -> list[str]:
        """Tokens still parked under `image`."""
        ...

    def forget(self, image: str, tokens: Sequence[str]) -> None: ...
