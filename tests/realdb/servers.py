"""Throwaway real PostgreSQL and MariaDB servers for tests.

Each server runs on a free 127.0.0.1 port with its data in a fresh temporary
directory, with a random admin password, and is removed again when stopped.

    with postgres_server("mytest") as pg:
        psycopg.connect(pg.dsn())

Linux only. When running as root, PostgreSQL runs as the ``postgres`` OS user
(it refuses root) and MariaDB with ``--user=root``.

The harness is split by engine (`postgres_servers`, `mariadb_servers`) over what
both share (`server_processes`); this module is where the tests import it from.
"""

from __future__ import annotations

import os
import pwd

from tests.realdb.mariadb_servers import MARIADB_PACKAGE, _mariadb_binaries, mariadb_server, start_mariadb
from tests.realdb.postgres_servers import (
    POSTGRES_PACKAGE,
    _postgres_binaries,
    missing_postgres_build,
    postgres_server,
    start_postgres,
)
from tests.realdb.server_processes import RunningServer, ServerStartError, ServerTls

__all__ = [
    "MARIADB_PACKAGE",
    "POSTGRES_PACKAGE",
    "RunningServer",
    "ServerStartError",
    "ServerTls",
    "mariadb_server",
    "missing_postgres_build",
    "missing_server_packages",
    "postgres_server",
    "start_mariadb",
    "start_postgres",
]


def missing_server_packages() -> list[str]:
    """Debian packages whose server binaries are not installed."""
    missing: list[str] = []
    pg_ok = _postgres_binaries() is not None
    if pg_ok and os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pg_ok = False
    if not pg_ok:
        missing.append(POSTGRES_PACKAGE)
    if _mariadb_binaries() is None:
        missing.append(MARIADB_PACKAGE)
    return missing
