"""The installed package's version, read once from its metadata (pyproject.toml's `version`).

Both `freightliner --version` and the registry client's User-Agent say the same thing. A copy
of the sources without package metadata (the Lambda layer copies the package tree) falls back
to `freightliner.__version__`, the attribute the metadata is built from.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

from freightliner import __version__

DISTRIBUTION = "freightliner"


@cache
def package_version() -> str:
    """The installed distribution's version, else (not installed) the package's own."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return __version__


def user_agent() -> str:
    """What the registry client sends as User-Agent: `freightliner/<version>`."""
    return f"{DISTRIBUTION}/{package_version()}"
