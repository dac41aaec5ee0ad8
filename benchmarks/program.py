"""How the program's evaluation cost and dependency depth grow with the number of services.

    python benchmarks/program.py [--services 0,10,50,200] [--runs 5] [--json]

For each N, a fresh subprocess (so peak RSS is that N's own) runs the real `__main__.py` under the
SDK's mocks (`review.capture.program.run_program`) with the dev topology plus N services added through the
`services` config (each reading `madansara` and `sankore`), and:

* times it (median of `--runs` runs, after one untimed warm-up run of the default topology that
  pays the imports; each run's event loop is closed afterwards, so no run pays for an earlier one's
  garbage);
* records the process's peak RSS after those runs (before the floors run);
* registers the same resources directly, with no topology or component code (`benchmarks.floor`),
  the same number of times: the SDK's floor; program/floor is what our code adds. The text report
  also times the floor with every dependency edge of the program as explicit `depends_on`
  ("floor+edges"): the SDK's cost of the graph we ask for, apart from the code that builds it;
* computes the critical path: the longest chain of custom resources, each waiting for the one
  before it (explicit `depends_on`, input Outputs of other resources, provider -> resource; a
  dependency on a component is one on every custom resource under it): the number of sequential
  steps a deployment needs with unlimited parallelism.

This is a report, not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from benchmarks.floor import check_same_resources, floor_specs, run_floor  # noqa: E402
from review.capture.plan import Plan  # noqa: E402
from review.capture.program import Capture, run_program  # noqa: E402
from topology.catalog import DEFAULT_SERVICE_CONNECTION_LIMIT  # noqa: E402
from topology.config import DEFAULT_MAX_CONNECTIONS  # noqa: E402
from topology.model import Mode  # noqa: E402

STACK = "dev"
DEFAULT_SERVICES = (0, 10, 50, 200)
DEFAULT_RUNS = 5
READS = ("madansara", "sankore")
RATIO_GOAL = 1.25
CONTAINER_MAX_CONNECTIONS = DEFAULT_MAX_CONNECTIONS[Mode.CONTAINER]
JSON_KEYS = ("services", "resources", "seconds", "floorSeconds", "ratio", "criticalPath", "peakRssMb")


def services_config(count: int) -> dict[str, Any]:
    """Stack config adding `count` services, each reading two schemas of main, on a main server whose
    max_connections fits their connection limits (15 each by default)."""
    if count == 0:
        return {}
    return {
        "services": {
            f"svc-{i:03d}": {"image": f"example/svc-{i:03d}:1.0.0", "reads": list(READS)} for i in range(count)
        },
        "servers": {"main": {"maxConnections": CONTAINER_MAX_CONNECTIONS + DEFAULT_SERVICE_CONNECTION_LIMIT * count}},
    }


# The dependency graph of deployment steps.


def step_dependencies(capture: Capture) -> dict[str, set[str]]:
    """Custom resource URN -> the custom resources it waits for: the review tools' dependency graph
    (`review.capture.plan.Plan.prerequisites`) less the component resources, which are no steps."""
    plan = Plan(capture)
    by_urn = plan.by_urn()
    return {urn: needs for urn, needs in plan.prerequisites.items() if by_urn[urn].custom}


def critical_path(graph: Mapping[str, set[str]]) -> list[str]:
    """The longest chain of steps (URNs, first step first); its length is the critical path."""
    waiting = {urn: len(deps) for urn, deps in graph.items()}
    dependents: dict[str, list[str]] = defaultdict(list)
    for urn, deps in graph.items():
        for dependency in deps:
            dependents[dependency].append(urn)
    ready = [urn for urn, count in waiting.items() if count == 0]
    depth: dict[str, int] = {}
    via: dict[str, str | None] = {}
    while ready:
        urn = ready.pop()
        best = max(graph[urn], key=lambda d: (depth[d], d), default=None)
        depth[urn] = 1 + (depth[best] if best is not None else 0)
        via[urn] = best
        for dependent in dependents[urn]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                ready.append(dependent)
    if len(depth) != len(graph):
        raise RuntimeError("the dependency graph has a cycle")
    if not depth:
        return []
    chain: list[str] = []
    current: str | None = max(depth, key=lambda u: (depth[u], u))
    while current is not None:
        chain.append(current)
        current = via[current]
    return chain[::-1]


def describe(urn: str) -> str:
    """`type::name` of a URN, short: `postgresql:Grant main-audit_append-schema`."""
    qualified_type, _, name = urn.rpartition("::")
    type_token = qualified_type.rpartition("$")[2]
    package, _, rest = type_token.partition(":")
    return f"{package}:{rest.rpartition(':')[2]} {name}"


# One N, measured in this process.


@dataclass(frozen=True)
class Measurement:
    """One N's numbers (seconds are medians)."""

    services: int
    resources: int
    seconds: float
    floor_seconds: float
    edges_floor_seconds: float
    """The floor plus every dependency edge of the program as explicit `depends_on`."""
    critical_path: int
    edges: int
    """Dependency edges between steps (custom resources)."""
    peak_rss_mb: float
    chain: list[str]
    type_counts: dict[str, int]

    @property
    def ratio(self) -> float:
        return self.seconds / self.floor_seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "services": self.services,
            "resources": self.resources,
            "seconds": round(self.seconds, 4),
            "floorSeconds": round(self.floor_seconds, 4),
            "ratio": round(self.ratio, 3),
            "criticalPath": self.critical_path,
            "peakRssMb": round(self.peak_rss_mb, 1),
        }


def close_event_loop() -> None:
    """Close the loop a run left behind (`run_program` does not): an open loop keeps the whole
    previous run alive, so every later run in the process would pay for its garbage."""
    loop = asyncio.get_event_loop()
    if not loop.is_closed():
        loop.close()


def _median_seconds(runs: int, action: Callable[[], Capture]) -> tuple[float, Capture]:
    """Median wall time of `runs` runs of `action`, each starting from the same heap; the last capture."""
    times: list[float] = []
    capture: Capture | None = None
    for _ in range(runs):
        capture = None
        gc.collect()
        start = time.perf_counter()
        capture = action()
        times.append(time.perf_counter() - start)
        close_event_loop()
    assert capture is not None
    return statistics.median(times), capture


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB (macOS in bytes).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def measure(services: int, runs: int) -> Measurement:
    """Measure one N in this process (meant to be a fresh one)."""
    config = services_config(services)
    warm = run_program({}, STACK)  # imports the program's modules and the provider SDKs
    close_event_loop()
    run_floor(floor_specs(warm), STACK, with_edges=True)
    close_event_loop()
    seconds, capture = _median_seconds(runs, lambda: run_program(config, STACK))
    peak = _peak_rss_mb()  # before the floors run: the program's own peak
    specs = floor_specs(capture)
    floor_seconds, floor = _median_seconds(runs, lambda: run_floor(specs, STACK))
    check_same_resources(capture, floor)
    edges_floor_seconds, floor = _median_seconds(runs, lambda: run_floor(specs, STACK, with_edges=True))
    check_same_resources(capture, floor)
    graph = step_dependencies(capture)
    chain = critical_path(graph)
    return Measurement(
        services=services,
        resources=len(capture.resources),
        seconds=seconds,
        floor_seconds=floor_seconds,
        edges_floor_seconds=edges_floor_seconds,
        critical_path=len(chain),
        edges=sum(len(deps) for deps in graph.values()),
        peak_rss_mb=peak,
        chain=[describe(urn) for urn in chain],
        type_counts=dict(Counter(r.type for r in capture.resources)),
    )


def measure_in_subprocess(services: int, runs: int) -> Measurement:
    """Measure one N in a fresh interpreter: imports, caches and ru_maxrss are that N's own."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(services), "--runs", str(runs)],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"measuring {services} services failed (exit {done.returncode}):\n{done.stderr}")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"measuring {services} services printed nothing:\n{done.stderr}")
    return Measurement(**json.loads(lines[-1]))


# Report.


def per_service(rows: Sequence[Measurement]) -> list[float | None]:
    """Resources added per service between each N and the previous one (None for the first)."""
    result: list[float | None] = [None]
    for before, after in pairwise(rows):
        added = after.services - before.services
        result.append((after.resources - before.resources) / added if added else None)
    return result


def goals(rows: Sequence[Measurement]) -> list[tuple[str, bool, str]]:
    """(goal, met, detail) for the three goals."""
    worst = max(rows, key=lambda m: m.ratio)
    increments = [value for value in per_service(rows) if value is not None]
    return [
        (
            f"program/floor ratio <= {RATIO_GOAL} at every N",
            all(m.ratio <= RATIO_GOAL for m in rows),
            f"worst {worst.ratio:.2f} at N={worst.services}",
        ),
        (
            "resources per added service constant (linear total)",
            len(set(increments)) <= 1,
            f"per service: {', '.join(f'{v:g}' for v in increments) or 'n/a (one N)'}",
        ),
        (
            "critical path does not grow with N",
            all(m.critical_path <= rows[0].critical_path for m in rows),
            f"critical path: {', '.join(str(m.critical_path) for m in rows)}",
        ),
    ]


def per_service_types(rows: Sequence[Measurement]) -> dict[str, float]:
    """Resources of each type added per service, between the smallest and the largest N."""
    first, last = rows[0], rows[-1]
    added = last.services - first.services
    if not added:
        return {}
    types = sorted(set(first.type_counts) | set(last.type_counts))
    deltas = {t: (last.type_counts.get(t, 0) - first.type_counts.get(t, 0)) / added for t in types}
    return {t: d for t, d in sorted(deltas.items(), key=lambda item: (-item[1], item[0])) if d}


def table(rows: Sequence[Measurement], runs: int) -> str:
    """The report as text: one line per N, the goals, what a service adds, the longest chain."""
    header = (
        f"{'services':>8} {'resources':>9} {'per svc':>7} {'seconds':>8} {'us/res':>7} {'floor s':>8} "
        f"{'floor us/res':>12} {'ratio':>6} {'crit path':>9} {'peak RSS MB':>11} {'edges':>7} {'floor+edges s':>13}"
    )
    lines = [
        f"median of {runs} runs per N, each N in a fresh process; ratio = seconds / floor s",
        header,
        "-" * len(header),
    ]
    for m, added in zip(rows, per_service(rows), strict=True):
        lines.append(
            f"{m.services:>8} {m.resources:>9} {'' if added is None else f'{added:g}':>7} {m.seconds:>8.3f} "
            f"{m.seconds / m.resources * 1e6:>7.0f} {m.floor_seconds:>8.3f} "
            f"{m.floor_seconds / m.resources * 1e6:>12.0f} {m.ratio:>6.2f} {m.critical_path:>9} "
            f"{m.peak_rss_mb:>11.1f} {m.edges:>7} {m.edges_floor_seconds:>13.3f}"
        )
    lines.append("")
    lines.append(
        "edges: dependency edges between steps; floor+edges: the floor with those edges as explicit depends_on"
    )
    lines.append("")
    for goal, met, detail in goals(rows):
        lines.append(f"[{'met' if met else 'MISSED'}] {goal}: {detail}")
    by_type = per_service_types(rows)
    if by_type:
        lines.append("")
        lines.append(f"per added service, by type (N={rows[0].services} -> N={rows[-1].services}):")
        lines.extend(f"  {count:>5g}  {type_}" for type_, count in by_type.items())
    largest = rows[-1]
    lines.append("")
    lines.append(f"critical path at N={largest.services} ({largest.critical_path} steps):")
    lines.extend(f"  {i:>2}. {step}" for i, step in enumerate(largest.chain, 1))
    return "\n".join(lines)


def _services_list(text: str) -> list[int]:
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or values[0] < 0:
        raise argparse.ArgumentTypeError("expected at least one service count, none negative")
    return values


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def progress_line(measurement: Measurement) -> str:
    """One N's result while the next one runs."""
    return (
        f"{measurement.resources} resources, {measurement.seconds:.3f} s "
        f"(floor {measurement.floor_seconds:.3f} s), critical path {measurement.critical_path}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--services",
        type=_services_list,
        default=list(DEFAULT_SERVICES),
        help="comma-separated numbers of extra services (default: %(default)s)",
    )
    parser.add_argument("--runs", type=_positive, default=DEFAULT_RUNS, help="timed runs per N (median)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per N, in a list")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        print(json.dumps(asdict(measure(args.child, args.runs))))
        return 0

    rows: list[Measurement] = []
    started = time.perf_counter()
    for position, services in enumerate(args.services, start=1):
        print(f"[{position}/{len(args.services)}] N={services}: {args.runs} timed runs and as many floor runs ...",
              file=sys.stderr, flush=True)  # fmt: skip
        try:
            rows.append(measure_in_subprocess(services, args.runs))
        except RuntimeError as error:
            print(error, file=sys.stderr)
            return 1
        print(f"[{position}/{len(args.services)}] N={services}: {progress_line(rows[-1])}; "
              f"{time.perf_counter() - started:.0f} s elapsed", file=sys.stderr, flush=True)  # fmt: skip
    if args.json:
        print(json.dumps([{key: m.as_json()[key] for key in JSON_KEYS} for m in rows], indent=2))
    else:
        print(table(rows, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
