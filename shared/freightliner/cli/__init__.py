"""The `freightliner` command line.

httpx imports its own command line (`httpx._main`, with rich, click and pygments: a tenth of a
second) whenever those are installed, as they are beside the dev tools; freightliner never runs
it, so the CLI marks it absent before httpx loads and httpx defines its stub instead.
"""

import sys

sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
