"""How many probes each route gets: bounded so the suite runs in about three
minutes on a 2-core machine in CI. `TOLLGATE_HOSTILE_SCALE` (a factor, e.g.
10) asks for more on a long local run."""

from __future__ import annotations

import os

API_EXAMPLES = 50  # per /api route and caller (29 routes x 2 callers)
RELAY_EXAMPLES = 200  # per relay route (13 routes)
MALFORMED_EXAMPLES = 60
_SCALE = float(os.environ.get("TOLLGATE_HOSTILE_SCALE", "1") or "1")


def examples(base: int) -> int:
    return max(1, round(base * _SCALE))
