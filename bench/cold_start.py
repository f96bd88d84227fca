"""Cold start: how long each deployable handler module takes to import, and how long
`freightliner --help` takes to run, each in a fresh interpreter (best of N).

Targets (issue 12): every handler module imports in <= 300 ms, `freightliner --help` runs in
<= 250 ms. A handler's figure is its module's import alone (what Lambda's init phase spends on
our code), not the interpreter's own start; the Cloud Function's `main.py` is imported with
functions-framework already loaded, as its runtime does. The CLI's figure is the whole
process, as a user waits for it. Wall time is what the targets mean; CPU time is printed too
because it stays comparable on a machine other processes keep busy.

    .venv/bin/python bench/cold_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
FREIGHTLINER = str(Path(sys.executable).with_name("freightliner"))
HANDLER_TARGET_MS = 300.0
CLI_TARGET_MS = 250.0

# Runs in the fresh interpreter: import the handler file the way Lambda does, print seconds.
IMPORT_ONE = """
import importlib.util, sys, time
path = sys.argv[1]
if path.endswith("main.py"):
    import functions_framework  # the Cloud Functions runtime is functions-framework itself
spec = importlib.util.spec_from_file_location("handler_under_test", path)
module = importlib.util.module_from_spec(spec)
start, cpu = time.perf_counter(), time.process_time()
spec.loader.exec_module(module)
print(time.perf_counter() - start, time.process_time() - cpu)
"""


def handler_files() -> list[Path]:
    return sorted([*FUNCTIONS.glob("*/app.py"), *FUNCTIONS.glob("*/main.py")])


def import_seconds(path: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one import of `path` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ONE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=path.parent,
    )
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_seconds() -> tuple[float, float]:
    """(wall, CPU) seconds of one `freightliner --help` process."""
    start, cpu = time.perf_counter(), children_cpu()
    subprocess.run([FREIGHTLINER, "--help"], capture_output=True, check=True)
    return time.perf_counter() - start, children_cpu() - cpu


def best(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The fastest run's wall time and the least CPU time, in milliseconds."""
    return 1000 * min(w for w, _ in runs), 1000 * min(c for _, c in runs)


def verdict(ms: float, target: float) -> str:
    return "ok" if ms <= target else f"OVER {target:.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per figure")
    args = parser.parse_args()
    over = 0
    print(f"best of {args.runs} fresh processes")
    print(f"{'':<32} {'wall ms':>8} {'cpu ms':>8}")
    for path in handler_files():
        wall, cpu = best([import_seconds(path) for _ in range(args.runs)])
        over += wall > HANDLER_TARGET_MS
        name = f"{path.parent.name}/{path.name} import"
        print(f"{name:<32} {wall:>8.0f} {cpu:>8.0f}  {verdict(wall, HANDLER_TARGET_MS)}")
    wall, cpu = best([cli_seconds() for _ in range(args.runs)])
    over += wall > CLI_TARGET_MS
    name = "freightliner --help (process)"
    print(f"{name:<32} {wall:>8.0f} {cpu:>8.0f}  {verdict(wall, CLI_TARGET_MS)}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
