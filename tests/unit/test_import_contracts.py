"""The dependency rule holds, and each rule that checks it would notice a break.

pyproject.toml's import-linter contracts cover the package; each is shown to fail by running
lint-imports on a copy of the package holding one violation per contract. Lambda and Cloud
Function handlers are not a package (functions/<name>/app.py), so their rule (no adapter,
registry client, AWS SDK or HTTP client: they go through the composition root) is checked here
on their syntax trees.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from freightliner.harness.functions import FUNCTIONS, REPO

LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))
PACKAGE = REPO / "shared" / "freightliner"
HANDLERS = sorted([*FUNCTIONS.glob("*/app.py"), *FUNCTIONS.glob("*/main.py")])
HANDLERS_MAY_NOT_IMPORT = ("freightliner.adapters", "freightliner.registry", "boto3", "botocore")
HANDLERS_MAY_NOT_IMPORT += ("httpx",)

# contract name (as pyproject.toml spells its start) -> (module added, its violating import)
VIOLATIONS = {
    "Layers": ("domain/_violates_layers.py", "import freightliner.ports.work"),
    "Adapters implement ports": (
        "adapters/_violates_ports.py",
        "import freightliner.engine.events.planning",
    ),
    "Nothing deployed imports the local harness": (
        "bootstrap/_violates_harness.py",
        "import freightliner.harness.functions",
    ),
    "The engine, domain and ports know no cloud": (
        "engine/_violates_cloud.py",
        "import boto3\nfrom aws_lambda_powertools import Logger",
    ),
    "The engine, domain and ports speak to registries only": (
        "ports/_violates_http.py",
        "import httpx",
    ),
    "The registry client stays portable": (
        "registry/_violates_portable.py",
        "import aws_xray_sdk",
    ),
}


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def forbidden_in_handler(path: Path) -> list[str]:
    return sorted(
        module
        for module in imported_modules(path)
        if any(module == f or module.startswith(f + ".") for f in HANDLERS_MAY_NOT_IMPORT)
    )


CONTRACTS = [
    c["name"]
    for c in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
]


def lint_imports(package_parent: Path, config: Path) -> dict[str, str]:
    """Each contract's name -> KEPT or BROKEN, from lint-imports run on the package found in
    `package_parent`."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    done = subprocess.run(
        [LINT_IMPORTS, "--config", str(config), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=package_parent,
    )
    text = " ".join(done.stdout.split())  # lint-imports wraps long names
    verdicts = {}
    for name in CONTRACTS:
        found = re.search(re.escape(" ".join(name.split())) + r" (KEPT|BROKEN)", text)
        assert found, (name, done.stdout + done.stderr)
        verdicts[name] = found.group(1)
    assert done.returncode == (1 if "BROKEN" in verdicts.values() else 0), done.stderr
    return verdicts


def verdict_of(verdicts: dict[str, str], contract: str) -> str:
    [verdict] = [v for name, v in verdicts.items() if name.startswith(contract)]
    return verdict


@pytest.mark.parametrize("handler", HANDLERS, ids=lambda p: p.parent.name)
def test_handlers_reach_adapters_only_through_the_composition_root(handler: Path) -> None:
    assert forbidden_in_handler(handler) == []


def test_the_handler_rule_sees_an_adapter_imported_inside_a_function(tmp_path: Path) -> None:
    handler = tmp_path / "app.py"
    handler.write_text(
        "def handler(event, context):\n"
        "    from freightliner.adapters.aws.sqs_queue import SqsWorkQueue\n"
        "    import boto3\n"
    )
    assert forbidden_in_handler(handler) == [
        "boto3",
        "freightliner.adapters.aws.sqs_queue",
        "freightliner.adapters.aws.sqs_queue.SqsWorkQueue",
    ]


def test_every_contract_breaks_on_its_violation(tmp_path: Path) -> None:
    config = tmp_path / "pyproject.toml"
    shutil.copy(REPO / "pyproject.toml", config)
    clean = tmp_path / "clean"
    shutil.copytree(PACKAGE, clean / "freightliner", ignore=shutil.ignore_patterns("__pycache__"))
    kept = lint_imports(clean, config)
    assert set(kept.values()) == {"KEPT"}, kept
    # A new contract gets its violation here too.
    assert {c for c in CONTRACTS if not any(c.startswith(v) for v in VIOLATIONS)} == set()

    for contract, (module, violation) in VIOLATIONS.items():
        broken = tmp_path / module.split("/")[0] / module.split("/")[1].removesuffix(".py")
        shutil.copytree(clean, broken)
        (broken / "freightliner" / module).write_text(violation + "\n")
        verdicts = lint_imports(broken, config)
        assert verdict_of(verdicts, contract) == "BROKEN", (contract, verdicts)
        others = {n: v for n, v in verdicts.items() if not n.startswith(contract)}
        assert "BROKEN" not in others.values(), (contract, others)
