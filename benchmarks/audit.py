"""How `review audit` grows with the size of the catalog it reads.

    python benchmarks/audit.py [--tables 100,1000,10000] [--json]

Starts a throwaway PostgreSQL 15 server (the test suite's `tests.realdb.servers`; needs the Debian
package postgresql-15), applies the stack's SQL for `main` to it, then for each N adds tables until
the service schemas hold N tables in all (each owned by its schema's owner, as a migration creates
them, with a serial key: a sequence each too), and audits `main`: wall time of the audit, the number
of catalog queries it sent, and the number of findings (0: the grants on every new table came from
the stack's default privileges).

This is a report, not a test: nothing here fails on a slow machine. The test suite checks that
the number of queries does not grow with the tables (`tests/realdb/test_audit.py`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

import psycopg  # noqa: E402

from review.audit.checks import audit_servers  # noqa: E402
from topology.sql import quote_ident  # noqa: E402

DEFAULT_TABLES = (100, 1000, 10000)
BATCH = 500
"""Tables per transaction: one transaction for thousands would exhaust the lock table."""


@contextlib.contextmanager
def counted_queries() -> Iterator[list[str]]:
    """Every statement psycopg sends while the block runs (the audit's catalog queries)."""
    sent: list[str] = []
    original = psycopg.Cursor.execute

    def execute(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query))
        return original(self, query, *args, **kwargs)

    psycopg.Cursor.execute = execute  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        psycopg.Cursor.execute = original  # type: ignore[method-assign]


def add_tables(dsn: str, schema: str, owner: str, first: int, count: int) -> None:
    """Tables `bench_<first>` .. as `owner` in `schema`, in transactions of BATCH tables."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        for start in range(first, first + count, BATCH):
            stop = min(start + BATCH, first + count) - 1
            connection.execute(
                f"SET ROLE {quote_ident(owner)}; DO $$ BEGIN FOR i IN {start}..{stop} LOOP "
                f"EXECUTE format('CREATE TABLE %I.%I (id serial PRIMARY KEY, v text)', "
                f"{_literal(schema)}, 'bench_' || i); END LOOP; END $$; RESET ROLE"
            )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Measurement:
    """One audit of `main` at a catalog size."""

    tables: int
    relations: int
    seconds: float
    queries: int
    findings: int


def measure_sizes(sizes: Sequence[int], report: Any = None) -> list[Measurement]:
    """Deploy `main` on a throwaway server, grow it to each size, audit it each time."""
    from tests.realdb.conftest import Servers, deploy
    from tests.realdb.servers import postgres_server

    results: list[Measurement] = []
    with postgres_server("audit-bench") as server:
        # Shared placement: one PostgreSQL server holds every schema the stack creates.
        deployment = deploy(Servers(main=server, flowdb=server, scheduler=None), apply_to=("main",),
                            langflowPlacement="shared")  # fmt: skip
        topology = deployment.topology
        database = topology.servers["main"].database
        dsn = server.dsn(database)
        schemas = [s for s in topology.layouts["main"].schemas if s.created and s.name != "audit"]
        created = 0
        for size in sizes:
            while created < size:
                schema = schemas[created % len(schemas)]
                batch = min(BATCH, size - created)
                add_tables(dsn, schema.name, schema.owner, created, batch)
                created += batch
            with psycopg.connect(dsn) as connection:
                relations = connection.execute("SELECT count(*) FROM pg_class WHERE relkind IN ('r', 'S')").fetchone()
            with counted_queries() as queries:
                started = time.perf_counter()
                findings = audit_servers(topology, {"main": dsn})
                seconds = time.perf_counter() - started
            measurement = Measurement(size, int(relations[0]) if relations else 0, seconds, len(queries),
                                      len(findings))  # fmt: skip
            results.append(measurement)
            if report is not None:
                report(measurement)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--tables",
        type=lambda text: sorted(int(part) for part in text.split(",")),
        default=list(DEFAULT_TABLES),
        help="comma-separated catalog sizes, in tables across the service schemas (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print the measurements as a JSON list")
    args = parser.parse_args(argv)

    def progress(m: Measurement) -> None:
        print(f"{m.tables} tables: audit {m.seconds:.3f} s, {m.queries} queries, {m.findings} findings",
              file=sys.stderr, flush=True)  # fmt: skip

    rows = measure_sizes(args.tables, progress)
    if args.json:
        print(json.dumps([asdict(row) for row in rows], indent=2))
        return 0
    print(f"{'tables':>7} {'relations':>9} {'seconds':>8} {'queries':>7} {'findings':>8}")
    for row in rows:
        print(f"{row.tables:>7} {row.relations:>9} {row.seconds:>8.3f} {row.queries:>7} {row.findings:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
