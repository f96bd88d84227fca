"""What ships besides third-party packages, assembled in one place for the builds and for the
as-deployed tests: `package DEST` copies the freightliner package (without the local test
harness) into DEST, as the Lambda layer holds it; `gcp DEST` assembles the Cloud Function's
source (main.py, the package, requirements.txt)."""

import pathlib
import shutil
import sys

from runtime_requirements import ROOT, requirements

PACKAGE = ROOT / "shared" / "freightliner"
GCP_MAIN = ROOT / "functions" / "on_gar_push" / "main.py"
_SKIP = shutil.ignore_patterns("__pycache__", "harness")  # harness: local test tooling only


def package(dest: pathlib.Path) -> None:
    shutil.rmtree(dest / "freightliner", ignore_errors=True)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PACKAGE, dest / "freightliner", ignore=_SKIP)


def gcp_source(dest: pathlib.Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    package(dest)
    shutil.copy(GCP_MAIN, dest / "main.py")
    (dest / "requirements.txt").write_text("\n".join(requirements(gcp=True)) + "\n")


if __name__ == "__main__":
    what, target = sys.argv[1], pathlib.Path(sys.argv[2])
    {"package": package, "gcp": gcp_source}[what](target)
