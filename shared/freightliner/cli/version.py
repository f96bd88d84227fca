"""`freightliner version`: the package version, as `--version` prints it, plus the runtime."""

from __future__ import annotations

import argparse
import json
import platform
import sys


class VersionFlag(argparse.Action):
    """`--version`: prints `freightliner <version>` and exits; the metadata is read only
    when asked (`--help` stays fast)."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from freightliner.about import package_version  # noqa: PLC0415 - only when asked

        print(f"{parser.prog} {package_version()}")  # on stdout, as argparse's own does
        parser.exit()


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    version = sub.add_parser(
        "version",
        help="print the version (also sent as the registry client's User-Agent)",
        description="Print freightliner's version, the Python it runs on and its User-Agent.",
    )
    version.add_argument("--json", action="store_true", help="print one JSON document")


def run_version_command(args: argparse.Namespace) -> int:
    from freightliner.about import package_version, user_agent  # noqa: PLC0415

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
