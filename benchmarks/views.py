"""How long `review plan` takes to render each format once the program has run, at N services.

    python benchmarks/views.py [--services 200] [--runs 3]

Runs the program once under the SDK's mocks (the dev stack file plus N services, as
`benchmarks/program.py` adds them), then times each format as `review plan` renders it: the plan
model built from the capture, then the view (median of `--runs`). Every view reads the plan
model's indexes, so each should grow linearly with the number of resources.

This is a report, not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from benchmarks.program import services_config  # noqa: E402
from review.__main__ import capture_stack, validated_config  # noqa: E402
from review.capture.plan import Plan  # noqa: E402
from review.views.plan import render_json, render_markdown, render_mermaid, render_text  # noqa: E402
from review.views.sql import render_sql  # noqa: E402

STACK = "dev"
VIEWS: dict[str, Callable[[Plan], str]] = {
    "text": lambda plan: render_text(plan),
    "text --tree": lambda plan: render_text(plan, tree=True),
    "markdown": lambda plan: render_markdown(plan),
    "json": lambda plan: render_json(plan),
    "mermaid": lambda plan: render_mermaid(plan),
    "sql": lambda plan: render_sql(plan),
    "sql --server main": lambda plan: render_sql(plan, "main"),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=200, help="extra services (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="timed renders per format (median)")
    args = parser.parse_args(argv)
    config, _topology = validated_config(STACK, [])
    config.values.update(services_config(args.services))
    capture = capture_stack(config, STACK)
    print(f"{args.services} services, {len(capture.resources)} resources; median of {args.runs} runs")
    start = time.perf_counter()
    Plan(capture)
    print(f"  {'plan model alone':<20} {time.perf_counter() - start:8.3f} s")
    for name, render in VIEWS.items():
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            size = len(render(Plan(capture)))
            times.append(time.perf_counter() - start)
        print(f"  {name:<20} {statistics.median(times):8.3f} s  {size:>9} characters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
