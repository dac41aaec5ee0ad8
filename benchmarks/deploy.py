"""What a real deployment costs: the Pulumi engine and providers against the same SQL run by hand.

    python benchmarks/deploy.py [--services 0,20,60]

For each N (extra services, each reading two schemas of main), on fresh PostgreSQL 15 servers (main
and flowdb, the bootstrap superuser as admin) and a MariaDB the MySQL resources never reach (the
mysql provider fails on MariaDB: every `up` leaves them out, README "The real engine"):

* `up` from nothing, a no-change `up`, `preview`, and `destroy`, each through the Automation API
  (the audit table, which its provider never drops, is dropped by hand before the destroy);
* the floor: the same create statements (`review plan --format sql`'s, with the model's context
  read from the servers) applied by one `psql` session per server, one after the other;
* the ratio engine/floor for the `up` from nothing, and the critical path (the longest chain of
  resources each waiting for the one before it).

Declared `maxConnections` grows with N (the connection budget); the servers run 200. Needs the
toolchain's postgresql and random plugins (`make toolchain`). A report, not a test.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from benchmarks.program import critical_path, services_config, step_dependencies  # noqa: E402
from components.audit import AUDIT_TABLE  # noqa: E402
from review.capture.plan import Plan  # noqa: E402
from review.views.sql import sql_steps  # noqa: E402
from tests.e2e.conftest import PLUGINS, STACK, mysql_urns_of, program_capture  # noqa: E402
from tests.e2e.engine import engine_stack  # noqa: E402
from tests.realdb.conftest import POSTGRES, Servers, external_config, live_server_context  # noqa: E402
from tests.realdb.matrix import Combination  # noqa: E402
from tests.realdb.servers import RunningServer, mariadb_server, postgres_server  # noqa: E402
from topology import load_topology  # noqa: E402
from topology.catalog import AUDIT_SCHEMA  # noqa: E402
from topology.sql import quote_ident  # noqa: E402

PSQL = "/usr/lib/postgresql/15/bin/psql"
DATABASES = {"main": "engarde", "flowdb": "langflow"}


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def config_for(servers: Servers, count: int) -> dict[str, Any]:
    config = external_config(servers)
    extra = services_config(count)
    if extra:
        config["services"] = extra["services"]
        config["servers"]["main"]["maxConnections"] = extra["servers"]["main"]["maxConnections"] + 200
    return config


def reset(server: RunningServer, database: str) -> None:
    """The server as a platform hands it over: the stack's database, empty, and no role but the admin."""
    with psycopg.connect(server.dsn("postgres"), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {quote_ident(database)} WITH (FORCE)")
        for (role,) in connection.execute(
            "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> current_user"
        ).fetchall():
            connection.execute(f"DROP ROLE {quote_ident(role)}")
        connection.execute(f"CREATE DATABASE {quote_ident(database)}")


def psql_script(steps: list[Any], default_database: str) -> str:
    lines = ["\\set ON_ERROR_STOP 1"]
    current = None
    for step in steps:
        database = step.database or default_database
        if database != current:
            lines.append(f"\\connect {database}")
            current = database
        body = [statement.rstrip().rstrip(";") + ";" for statement in step.statements]
        lines += ["BEGIN;", *body, "COMMIT;"] if step.transaction else body
    return "\n".join(lines) + "\n"


def floor_seconds(servers: Servers, config: dict[str, Any]) -> float:
    """One psql session per server applying the create statements, servers one after the other."""
    capture = program_capture(config)
    topology = load_topology(config, STACK)
    total = 0.0
    with tempfile.TemporaryDirectory() as directory:
        for name in POSTGRES:
            server = servers[name]
            context = live_server_context(capture, topology, server, name)
            script = Path(directory) / f"{name}.sql"
            script.write_text(psql_script(sql_steps(Plan(capture), name, context), DATABASES[name]))
            command = [PSQL, "-X", "-q", "-f", str(script), server.dsn(DATABASES[name])]
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            total += time.perf_counter() - started
    return total


def measure(servers: Servers, count: int) -> dict[str, float | int]:
    config = config_for(servers, count)
    capture = program_capture(config)
    excluded = mysql_urns_of(capture)
    row: dict[str, float | int] = {"services": count, "resources": len(capture.resources)}
    row["critical_path"] = len(critical_path(step_dependencies(capture)))
    with engine_stack(STACK, None, *PLUGINS) as engine:
        engine.configure(config)
        row["up"] = timed(lambda: engine.stack.up(exclude=excluded, exclude_dependents=True))
        row["up_no_change"] = timed(lambda: engine.stack.up(exclude=excluded, exclude_dependents=True))
        row["preview"] = timed(lambda: engine.stack.preview(exclude=excluded, exclude_dependents=True))
        with psycopg.connect(servers.main.dsn("engarde"), autocommit=True) as connection:
            connection.execute(f"DROP TABLE {quote_ident(AUDIT_SCHEMA)}.{quote_ident(AUDIT_TABLE)}")
        row["destroy"] = timed(lambda: engine.stack.destroy())
    for name in POSTGRES:
        reset(servers[name], DATABASES[name])
    row["floor"] = floor_seconds(servers, config)
    for name in POSTGRES:
        reset(servers[name], DATABASES[name])
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", default="0,20,60", help="comma-separated numbers of extra services")
    args = parser.parse_args(argv)
    counts = [int(part) for part in args.services.split(",")]
    with ExitStack() as stack:
        main_server = stack.enter_context(postgres_server("bench-main"))
        flowdb = stack.enter_context(postgres_server("bench-flowdb"))
        scheduler = stack.enter_context(mariadb_server("bench-scheduler"))
        servers = Servers(
            main=main_server, flowdb=flowdb, scheduler=scheduler, combination=Combination(15, "superuser")
        )
        for name in POSTGRES:
            reset(servers[name], DATABASES[name])
        header = (
            f"{'N':>3} {'resources':>9} {'path':>4} {'up':>7} {'floor':>6} {'up/floor':>8}"
            f" {'no-change up':>12} {'preview':>8} {'destroy':>8}"
        )
        print(header)
        for count in counts:
            row = measure(servers, count)
            print(
                f"{row['services']:>3} {row['resources']:>9} {row['critical_path']:>4} {row['up']:>6.1f}s"
                f" {row['floor']:>5.2f}s {row['up'] / row['floor']:>7.0f}x {row['up_no_change']:>11.1f}s"
                f" {row['preview']:>7.1f}s {row['destroy']:>7.1f}s",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
