"""Image references: `host[:port]/path[:tag][@digest]`, with Docker Hub, ECR and GAR rules.

Pure parsing and validation; nothing here touches the network.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import idna

from freightliner.domain.digest import Digest
from freightliner.domain.errors import InvalidInput

DOCKER_HUB = "docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_HOST_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST_RE = re.compile(
    rf"^(?P<name>{_HOST_LABEL}(?:\.{_HOST_LABEL})*|\[[0-9a-fA-F:.]+\])(?::(?P<port>[0-9]{{1,5}}))?$"
)
_IPV4_STYLE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$")  # as HTTP clients read it
_ECR_RE = re.compile(
    r"^(?P<account>[0-9]{12})\.dkr(?:-fips)?\.ecr\.(?P<region>[a-z0-9-]+)"
    r"\.amazonaws\.com(?:\.cn)?$"
)
_GAR_RE = re.compile(r"^(?P<location>[a-z0-9-]+)-docker\.pkg\.dev$")


def validate_repository(name: str, *, ecr: bool = False) -> str:
    """The OCI distribution name grammar; `ecr` adds ECR's 2-character minimum (other
    registries, like skopeo and crane, accept `host/x`)."""
    minimum = 2 if ecr else 1
    if not minimum <= len(name) <= 256:
        raise InvalidInput(
            f"invalid repository name {name!r}: must be {minimum} to 256 characters"
            + (" on ECR" if ecr else "")
        )
    if name.startswith("/") or name.endswith("/"):
        raise InvalidInput(f"invalid repository name {name!r}: leading or trailing '/'")
    if ".." in name:
        raise InvalidInput(f"invalid repository name {name!r}: '..' is not allowed")
    if not _REPOSITORY_RE.match(name):
        raise InvalidInput(
            f"invalid repository name {name!r}: path components must be lowercase letters, "
            "digits and single separators ('.', '_', '__', '-')"
        )
    return name


def validate_tag(tag: str) -> str:
    if not _TAG_RE.match(tag):
        raise InvalidInput(f"invalid tag {tag!r}: must match [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}")
    return tag


def validate_host(host: str) -> str:
    """A DNS name, IPv4 address or bracketed IPv6 address, with an optional port 1-65535:
    anything an HTTP client would refuse later is refused here, as invalid input."""
    match = _HOST_RE.match(host)
    if match is None:
        raise InvalidInput(f"invalid registry host {host!r}")
    name, port = match["name"], match["port"]
    if port is not None and not 1 <= int(port) <= 65535:
        raise InvalidInput(f"invalid registry host {host!r}: port must be 1 to 65535")
    try:
        if name.startswith("["):
            ipaddress.IPv6Address(name[1:-1])
        elif _IPV4_STYLE.match(name):
            ipaddress.IPv4Address(name)
        elif "xn--" in name.lower():
            idna.decode(name)
    except (ValueError, idna.IDNAError) as exc:
        raise InvalidInput(f"invalid registry host {host!r}: {exc}") from None
    return host


def _looks_like_host(component: str) -> bool:
    return (
        "." in component
        or ":" in component
        or component == "localhost"
        or (component != component.lower())
    )


@dataclass(frozen=True, slots=True)
class EcrHost:
    account: str
    region: str


@dataclass(frozen=True, slots=True)
class GarHost:
    location: str


def ecr_registry(account: str, region: str) -> str:
    """The ECR registry host of an account in a region (the inverse of `ecr_host`)."""
    return f"{account}.dkr.ecr.{region}.amazonaws.com"


def ecr_host(host: str) -> EcrHost | None:
    """`<12-digit account>.dkr.ecr.<region>.amazonaws.com` → account and region."""
    match = _ECR_RE.match(host.split(":", 1)[0])
    return EcrHost(match["account"], match["region"]) if match else None


def gar_host(host: str) -> GarHost | None:
    """`<location>-docker.pkg.dev` → location."""
    match = _GAR_RE.match(host.split(":", 1)[0])
    return GarHost(match["location"]) if match else None


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed image reference. `tag` and `digest` are both optional; both may be set."""

    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    def __post_init__(self) -> None:
        validate_host(self.registry)
        validate_repository(self.repository, ecr=ecr_host(self.registry) is not None)
        if self.tag is not None:
            validate_tag(self.tag)
        if self.registry == DOCKER_HUB and "/" not in self.repository:
            raise InvalidInput(
                f"Docker Hub repository {self.repository!r} must be normalised to "
                f"library/{self.repository}"
            )
        if (g := gar_host(self.registry)) is not None and self.repository.count("/") < 2:
            raise InvalidInput(
                f"invalid Artifact Registry reference {self.registry}/{self.repository}: "
                f"expected {g.location}-docker.pkg.dev/<project>/<repository>/<image>"
            )

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse and normalise; Docker Hub short names become `docker.io/library/x`."""
        original = text
        if not text or text != text.strip():
            raise InvalidInput(f"invalid image reference {original!r}")
        digest: Digest | None = None
        if "@" in text:
            text, digest_text = text.split("@", 1)
            digest = Digest.parse(digest_text)
        first, sep, rest = text.partition("/")
        if sep and _looks_like_host(first):
            registry, remainder = first, rest
        else:
            registry, remainder = DOCKER_HUB, text
        tag: str | None = None
        last_slash = remainder.rfind("/")
        colon = remainder.rfind(":")
        if colon > last_slash:
            remainder, tag = remainder[:colon], remainder[colon + 1 :]
            if not tag:
                raise InvalidInput(f"invalid image reference {original!r}: empty tag")
        if registry in _HUB_ALIASES:
            registry = DOCKER_HUB
            if "/" not in remainder:
                remainder = f"library/{remainder}"
        if not remainder:
            raise InvalidInput(f"invalid image reference {original!r}: no repository")
        try:
            return cls(registry, remainder, tag, digest)
        except InvalidInput as exc:
            raise InvalidInput(f"invalid image reference {original!r}: {exc.detail}") from None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    @property
    def display(self) -> str:
        """For log lines and messages: the digest as its 12-character prefix."""
        text = str(self.with_tag(self.tag))
        return f"{text}@{self.digest.short}" if self.digest is not None else text

    @property
    def name(self) -> str:
        """`host/repository`, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def identifier(self) -> str:
        """What goes in `/v2/<name>/manifests/<identifier>`: the digest if pinned, else the tag."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag or "latest"

    def with_tag(self, tag: str | None) -> Reference:
        return Reference(self.registry, self.repository, tag, None)

    def with_digest(self, digest: Digest) -> Reference:
        return Reference(self.registry, self.repository, None, digest)

    def in_repository(self, registry: str, repository: str) -> Reference:
        return Reference(registry, repository, self.tag, self.digest)
