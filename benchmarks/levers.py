"""The levers on `pulumi up` that need no change to the program, each on its own, on the file backend.

    python benchmarks/levers.py [--services 20] [--runs 3]

For N extra services on fresh PostgreSQL 15 servers (as `benchmarks/backends.py` measures, MySQL left out), an
`up` from nothing and a no-change `up` (the median of `--runs`) with: the defaults; `--parallel 4` and
`--parallel 64` (the engine's concurrent steps; its default is unbounded); `GOGC=400` (the CLI's Go garbage
collector, 14% of its CPU in the profile, runs a quarter as often); `PULUMI_SKIP_CHECKPOINTS=true` (the
state written once, at the end: a killed `up` then loses all of it, tests/e2e/test_state_backends.py). The
levers inside the program (the registrations' stack traces and how their frame is found, one salt key per
server, the SDK's debug messages sent from a thread, the config's validators built on first use) are measured in
docs/performance.md against the commit before them. A report, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from benchmarks.backends import measure  # noqa: E402
from benchmarks.harness import superuser_servers  # noqa: E402

LEVERS: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "defaults": ({}, {}),
    "--parallel 4": ({}, {"parallel": 4}),
    "--parallel 64": ({}, {"parallel": 64}),
    "GOGC=400": ({"GOGC": "400"}, {}),
    "no checkpoints": ({"PULUMI_SKIP_CHECKPOINTS": "true"}, {}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=20, help="extra services (default 20)")
    parser.add_argument("--runs", type=int, default=3, help="runs per lever, the median printed (default 3)")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        servers = superuser_servers(stack, "levers")
        print(f"N={args.services}, median of {args.runs}")
        print(f"{'lever':<16} {'up':>8} {'no-change up':>13} {'state KiB':>10}")
        for label, (env, options) in LEVERS.items():
            rows = [measure(servers, args.services, env, **options) for _ in range(args.runs)]
            up, no_change = (statistics.median(row[key] for row in rows) for key in ("up", "no_change"))
            print(f"{label:<16} {up:>7.1f}s {no_change:>12.1f}s {rows[0]['state_kb']:>10.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
