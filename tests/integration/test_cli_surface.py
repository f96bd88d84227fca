"""The command line's surface as skopeo/crane/regctl users expect it, through the real entry
point: version, completion, help on every option, exit codes."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

import freightliner
from freightliner import about
from freightliner.cli.local import invoke_exit_code
from freightliner.cli.main import build_parser, main
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


def _options_without_help(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _options_without_help(child, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction) and not action.help:
            yield path, "/".join(action.option_strings) or action.dest


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*path, name)
                yield from _commands(child, (*path, name))


def test_every_option_and_argument_of_every_command_has_help() -> None:
    assert list(_options_without_help(build_parser(), "freightliner")) == []


def test_every_command_prints_its_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    commands = list(_commands(build_parser()))
    assert ("jobs", "status") in commands and ("tree", "schedule") in commands
    for command in commands:
        with pytest.raises(SystemExit) as exited:
            main([*command, "--help"])
        assert exited.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: freightliner {' '.join(command)}")


def test_jobs_status_help_is_the_status_help() -> None:
    shown = subprocess.run(
        [str(FREIGHTLINER), "jobs", "status", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert shown.startswith("usage: freightliner jobs status")
    assert "--retry-failed" not in shown  # resume's option, not status's
    assert "job id" in shown


def test_options_of_another_subcommand_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["jobs", "status", "sync-1", "--retry-failed"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --retry-failed" in capsys.readouterr().err


def test_invoke_exits_non_zero_when_the_handler_rejects_the_event(tmp_path: Path) -> None:
    """A deployment missing its settings fails before reading the event (78); a configured
    one (here unreachable: the event is refused before anything is called) rejects it (2)."""
    event = tmp_path / "bad.json"
    event.write_text(json.dumps({"source": "aws.ecr", "detail": {"action-type": "PUSH"}}))
    command = [str(FREIGHTLINER), "invoke", "on_ecr_push", str(event)]
    command += ["--dir", str(tmp_path / "none")]
    bare = {k: v for k, v in os.environ.items() if not k.startswith("FREIGHTLINER_")}
    unconfigured = subprocess.run(command, capture_output=True, text=True, check=False, env=bare)
    assert unconfigured.returncode == 78, unconfigured.stderr
    assert "required setting(s) not set" in unconfigured.stderr
    configured = {
        **bare,
        "FREIGHTLINER_TABLE": "jobs",
        "FREIGHTLINER_QUEUE_URL": "http://127.0.0.1:9/queue/work",
        "FREIGHTLINER_RULES": str(tmp_path / "rules.yaml"),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    invoked = subprocess.run(command, capture_output=True, text=True, check=False, env=configured)
    reply = json.loads(invoked.stdout[invoked.stdout.rindex("{\n") :])
    assert reply["status"] == "rejected"
    assert invoked.returncode == 2


def test_invoke_exit_code_follows_the_rejection_and_http_status() -> None:
    assert invoke_exit_code({"status": "enqueued"}) == 0
    assert invoke_exit_code({"status": "rejected", "error": "not_found"}) == 3
    assert invoke_exit_code({"http_status": 400, "body": None}) == 1
    assert invoke_exit_code({"http_status": 200, "body": {"status": "rejected"}}) == 2
    assert invoke_exit_code({"http_status": 204, "body": None}) == 0


def test_a_copy_without_package_metadata_reports_the_package_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Lambda layer copies the package tree without its dist-info: the User-Agent still
    names the real version (the attribute pyproject.toml reads), not a made-up one."""

    def missing(name: str) -> str:
        raise about.PackageNotFoundError(name)

    monkeypatch.setattr(about, "version", missing)
    about.package_version.cache_clear()
    try:
        assert (
            about.user_agent()
            == f"freightliner/{freightliner.__version__}"
            == f"freightliner/{VERSION}"
        )
    finally:
        about.package_version.cache_clear()
