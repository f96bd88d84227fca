"""The installed package's version, read once from its metadata (pyproject.toml's `version`).

Both `freightliner --version` and the registry client's User-Agent say the same thing. A copy
of the sources without package metadata (the Lambda layer copies the package tree) reports
`0+unknown` rather than a made-up number.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "freightliner"
UNKNOWN_VERSION = "0+unknown"


@cache
def package_version() -> str:
    """The distribution's version, or `0+unknown` where it is not installed."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return UNKNOWN_VERSION


def user_agent() -> str:
    """What the registry client sends as User-Agent: `freightliner/<version>`."""
    return f"{DISTRIBUTION}/{package_version()}"
