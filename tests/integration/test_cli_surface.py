"""The command line's surface as skopeo/crane/regctl users expect it, through the real entry
point: version, completion, help on every option, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from freightliner.cli.main import main
from tests.support.capture_server import Route, capture_server

FREIGHTLINER = Path(sys.executable).with_name("freightliner")
VERSION = version("freightliner")


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version_flag_and_verb_print_the_package_version() -> None:
    flag = subprocess.run(
        [str(FREIGHTLINER), "--version"], capture_output=True, text=True, check=True
    )
    assert flag.stdout.strip() == f"freightliner {VERSION}"
    verb = subprocess.run(
        [str(FREIGHTLINER), "version", "--json"], capture_output=True, text=True, check=True
    )
    facts = json.loads(verb.stdout)
    assert facts["version"] == VERSION
    assert facts["user_agent"] == f"freightliner/{VERSION}"


def test_registry_requests_carry_the_package_version_as_user_agent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with capture_server() as server:
        server.route("/v2/", Route(body=b"{}"))
        server.route(
            "/v2/team/app/tags/list",
            Route(
                body=b'{"name":"team/app","tags":["v1"]}',
                headers={"Content-Type": "application/json"},
            ),
        )
        code, out, err = run_cli(capsys, "tags", f"{server.host}/team/app")
    assert (code, out.strip()) == (0, "v1"), err
    agents = {c.user_agent for c in server.captured}
    assert agents == {f"freightliner/{VERSION}"}


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o"),
        ("zsh", "#compdef freightliner"),
        ("fish", "complete -c freightliner"),
    ],
)
def test_completion_scripts_name_every_command(
    capsys: pytest.CaptureFixture[str], shell: str, marker: str
) -> None:
    code, out, _ = run_cli(capsys, "completion", shell)
    assert code == 0
    assert marker in out
    for command in ("copy", "inspect", "sync", "jobs", "version", "completion"):
        assert command in out
    assert "--dest-creds" in out


def test_completion_for_bash_is_valid_bash() -> None:
    script = subprocess.run(
        [str(FREIGHTLINER), "completion", "bash"], capture_output=True, text=True, check=True
    ).stdout
    checked = subprocess.run(
        ["bash", "-n"], check=False, input=script, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr


def test_unknown_shell_is_refused_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["completion", "tcsh"])
    assert exited.value.code == 2
