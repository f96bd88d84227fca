"""Platforms (`os/arch[/variant]`) with the architecture names people actually type."""

from __future__ import annotations

from dataclasses import dataclass

from freightliner.domain.errors import InvalidInput

_ARCH_ALIASES: dict[str, tuple[str, str | None]] = {
    "x86_64": ("amd64", None),
    "x86-64": ("amd64", None),
    "aarch64": ("arm64", None),
    "armv7l": ("arm", "v7"),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "armv6l": ("arm", "v6"),
    "i386": ("386", None),
    "i686": ("386", None),
}


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise InvalidInput(f"invalid platform {text!r}: expected os/arch[/variant]")
        os_name, arch = parts[0].lower(), parts[1].lower()
        variant = parts[2].lower() if len(parts) == 3 else None
        arch, implied = _ARCH_ALIASES.get(arch, (arch, None))
        if variant is None:
            variant = implied
        if arch == "arm64" and variant == "v8":
            variant = None
        return cls(os_name, arch, variant)

    def matches(self, os_name: str, architecture: str, variant: str | None) -> bool:
        """True when an index entry's platform is this one; arm64's v8 variant is implicit."""
        other = Platform.parse(f"{os_name}/{architecture}" + (f"/{variant}" if variant else ""))
        if self.os != other.os or self.architecture != other.architecture:
            return False
        return self.variant is None or self.variant == other.variant

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")
