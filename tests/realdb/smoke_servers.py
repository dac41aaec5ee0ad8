"""Manual smoke check for tests.realdb.servers (not a pytest module).

Run from the repository root:

    PYTHONPATH=. python tests/realdb/smoke_servers.py

Starts three servers at once (PostgreSQL and two MariaDB, to check that two
instances run side by side), connects to each (and, for MariaDB, as a newly
created user), prints versions and startup times, stops them and checks that
their directories and processes are gone.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pymysql  # type: ignore[import-untyped, unused-ignore]

from tests.realdb.servers import (
    RunningServer,
    mariadb_server,
    missing_server_packages,
    postgres_server,
)

_ServerCM = contextlib.AbstractContextManager[RunningServer]


def _pg_version(server: RunningServer) -> str:
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        row = conn.execute("SELECT version(), current_setting('server_encoding')").fetchone()
        assert row is not None
        # Also exercise a non-default database through the DSN.
        conn.execute("CREATE DATABASE smoke_db")
    with psycopg.connect(server.dsn("smoke_db")) as conn:
        db = conn.execute("SELECT current_database()").fetchone()
    return f"{row[0]} (encoding {row[1]}, db {db[0] if db else None})"


def _mysql_version(server: RunningServer) -> str:
    conn = pymysql.connect(
        host=server.host,
        port=server.port,
        user=server.admin_user,
        password=server.admin_password,
        database=server.database,
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION(), @@character_set_server, CURRENT_USER()")
            row = cur.fetchone()
            assert row is not None
            cur.execute("CREATE DATABASE smoke_db")
            cur.execute("CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'")
            cur.execute("GRANT ALL ON smoke_db.* TO 'app'@'%'")
    finally:
        conn.close()
    # Real grants: a newly created user can log in over TCP.
    app = pymysql.connect(host=server.host, port=server.port, user="app", password="app-pw", database="smoke_db")
    app.close()
    return f"{row[0]} (charset {row[1]}, user {row[2]})"


@contextlib.contextmanager
def _timed(label: str, cm: contextlib.AbstractContextManager[RunningServer]) -> Iterator[RunningServer]:
    start = time.monotonic()
    with cm as server:
        print(f"{label}: started in {time.monotonic() - start:.2f}s on port {server.port} ({server!r})")
        yield server
        stop_start = time.monotonic()
    print(f"{label}: stopped in {time.monotonic() - stop_start:.2f}s")


def _leftover_dirs(prefixes: list[str]) -> list[Path]:
    return [p for p in Path(tempfile.gettempdir()).iterdir() if p.name.startswith(tuple(prefixes))]


def _leftover_processes(name: str, prefixes: list[str]) -> list[str]:
    # Server command lines name their directory; PostgreSQL children show the cluster_name.
    tokens = [f"/{prefix}" for prefix in prefixes] + [f"realdb-{name}: "]
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(token in cmdline for token in tokens):
            found.append(f"{proc.name}: {cmdline}")
    return found


def main() -> int:
    missing = missing_server_packages()
    if missing:
        print(f"missing packages: {' '.join(missing)}", file=sys.stderr)
        return 1
    name = f"smoke{os.getpid()}"
    checks: list[tuple[str, Callable[[RunningServer], str], Callable[[], _ServerCM]]] = [
        ("postgres", _pg_version, lambda: postgres_server(name)),
        ("mariadb-1", _mysql_version, lambda: mariadb_server(name)),
        ("mariadb-2", _mysql_version, lambda: mariadb_server(name)),
    ]
    total = time.monotonic()
    with contextlib.ExitStack() as stack:
        servers = [(label, check, stack.enter_context(_timed(label, make()))) for label, check, make in checks]
        for label, check, server in servers:
            print(f"{label}: {check(server)}")
    print(f"total: {time.monotonic() - total:.2f}s")
    prefixes = [f"realdb-pg-{name}-", f"realdb-mariadb-{name}-"]
    leftovers = [*map(str, _leftover_dirs(prefixes)), *_leftover_processes(name, prefixes)]
    if leftovers:
        print("left behind:", *leftovers, sep="\n  ", file=sys.stderr)
        return 1
    print("cleanup: no directories or processes left behind")
    return 0


if __name__ == "__main__":
    sys.exit(main())
