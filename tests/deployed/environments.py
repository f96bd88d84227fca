"""Clean virtualenvs holding only what ships: the Lambda layer's requirement set, or the Cloud
Function's requirements.txt, nothing else (no extras, no dev tools, no editable install).

Built with the Lambda runtime's Python (3.12) where pyenv has it, cached under build/ keyed by
a hash of the requirement set and the interpreter, so reruns start at once. The freightliner
package itself is assembled fresh per test session, as the layer build does."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "deployed"
sys.path.insert(0, str(ROOT / "layers"))
from assemble import gcp_source, package  # noqa: E402
from runtime_requirements import requirements  # noqa: E402

sys.path.remove(str(ROOT / "layers"))

__all__ = ["gcp_source", "package", "runtime_python", "shipped_venv"]


def runtime_python() -> str:
    """The Lambda runtime's Python (3.12) where pyenv or PATH has it, else this one."""
    found = shutil.which("python3.12")
    try:
        pyenv = subprocess.run(
            ["pyenv", "which", "python3.12"],
            env={**os.environ, "PYENV_VERSION": "3.12.1"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pyenv = ""
    return pyenv or found or sys.executable


def shipped_venv(*, gcp: bool) -> Path:
    """The virtualenv for one requirement set; its python is `<venv>/bin/python`."""
    python = runtime_python()
    wanted = "\n".join(requirements(gcp=gcp)) + "\n"
    version = subprocess.run(
        [python, "-VV"], capture_output=True, text=True, check=True
    ).stdout.strip()
    key = hashlib.sha256(f"{version}\n{wanted}".encode()).hexdigest()[:16]
    venv = BUILD / f"{'gcp' if gcp else 'lambda'}-{key}"
    BUILD.mkdir(parents=True, exist_ok=True)
    with (BUILD / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time, even across processes
        if (venv / "ready").exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        (venv / "requirements.txt").write_text(wanted)
        subprocess.run(
            [
                venv / "bin" / "python",
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-input",
                "-r",
                venv / "requirements.txt",
            ],
            check=True,
        )
        (venv / "ready").write_text(wanted)
    return venv
