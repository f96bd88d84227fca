"""`make demo`: two local registries, a multi-platform image, one `freightliner copy`.

Runs the real CLI as a subprocess, exactly as a user would, then checks the copy with
`freightliner inspect` on both sides: the index digest must be unchanged.
"""

from __future__ import annotations

import json
import subprocess
import sys

from freightliner.harness.images import seed_demo_image
from freightliner.harness.registry import LocalRegistry


def _cli(*args: str) -> str:
    command = [sys.executable, "-m", "freightliner.cli.main", *args]
    print(f"$ freightliner {' '.join(args)}", flush=True)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"demo: freightliner {args[0]} failed (exit {result.returncode})")
    return result.stdout


def main() -> int:
    with LocalRegistry() as source, LocalRegistry() as destination:
        print(f"source registry      {source.url}")
        print(f"destination registry {destination.url}")
        seeded = seed_demo_image(source.url, "demo/app", "v1")
        print(f"seeded {source.host}/demo/app:v1  {seeded.digest}  ({seeded.media_type})\n")
        src = f"{source.host}/demo/app:v1"
        dst = f"{destination.host}/mirror/demo/app:v1"
        print(_cli("copy", src, dst))
        before = json.loads(_cli("inspect", "--json", src))
        after = json.loads(_cli("inspect", "--json", dst))
        for platform in after["platforms"]:
            print(f"  {platform['platform']:<14} {platform['digest']}")
        if before["digest"] != after["digest"] or after["digest"] != seeded.digest:
            print(f"\nFAIL: digest changed {before['digest']} -> {after['digest']}")
            return 1
        print(
            f"\nOK: {dst} has digest {after['digest']} (unchanged), "
            f"{len(after['platforms'])} platforms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
