"""Print the package's runtime dependencies from pyproject.toml: one source for the layer."""

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
print("\n".join(project["dependencies"]))
