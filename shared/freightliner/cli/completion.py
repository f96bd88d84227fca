"""`freightliner completion bash|zsh|fish`: a completion script generated from the parser.

shtab walks the same argparse tree the command runs, so completion never drifts from the
options. It ships in the `cli` extra (`pip install 'freightliner[cli]'`), not in the Lambda
layer.
"""

from __future__ import annotations

import argparse

from freightliner.domain.errors import Unsupported

SHELLS = ("bash", "zsh", "fish")
INSTALL_HINT = {
    "bash": 'eval "$(freightliner completion bash)"   # e.g. in ~/.bashrc',
    "zsh": 'freightliner completion zsh > "${fpath[1]}/_freightliner"',
    "fish": "freightliner completion fish > ~/.config/fish/completions/freightliner.fish",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    completion = sub.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print a completion script for your shell. Install it with:\n  "
        + "\n  ".join(INSTALL_HINT.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell to complete for")


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for `shell`, generated from `parser`."""
    try:
        import shtab  # noqa: PLC0415 - only this command needs it; it ships in the cli extra
    except ImportError as exc:
        raise Unsupported("shell completion needs shtab: pip install 'freightliner[cli]'") from exc
    script: str = shtab.complete(parser, shell=shell)
    return script


def run_completion_command(args: argparse.Namespace) -> int:
    from freightliner.cli.main import build_parser  # noqa: PLC0415 - main imports this module

    print(completion_script(build_parser(), args.shell), end="")
    return 0
