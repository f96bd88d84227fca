"""`freightliner version`: the package version, as `--version` prints it, plus the runtime."""

from __future__ import annotations

import argparse
import json
import platform
import sys

from freightliner.about import package_version, user_agent


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    version = sub.add_parser(
        "version",
        help="print the version (also sent as the registry client's User-Agent)",
        description="Print freightliner's version, the Python it runs on and its User-Agent.",
    )
    version.add_argument("--json", action="store_true", help="print one JSON document")


def run_version_command(args: argparse.Namespace) -> int:
    facts = {
        "version": package_version(),
        "python": platform.python_version(),
        "platform": f"{sys.platform}/{platform.machine()}",
        "user_agent": user_agent(),
    }
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        print(
            f"freightliner {facts['version']}\n  python      {facts['python']}\n"
            f"  platform    {facts['platform']}\n  user agent  {facts['user_agent']}"
        )
    return 0
