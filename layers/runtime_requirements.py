"""The requirement set that ships, from pyproject.toml (one source): the Lambda dependencies
layer is `project.dependencies`; the Cloud Function (`--gcp`) adds the `gcp` extra.

The as-deployed tests build their virtualenvs from the same lists."""

import pathlib
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def requirements(gcp: bool = False) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = project["optional-dependencies"]["gcp"] if gcp else []
    return [*project["dependencies"], *extra]


if __name__ == "__main__":
    print("\n".join(requirements(gcp="--gcp" in sys.argv[1:])))
