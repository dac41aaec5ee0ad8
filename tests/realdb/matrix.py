"""The real-server matrix: PostgreSQL major versions by the kind of admin the stack connects as.

* `superuser`: the bootstrap superuser `postgres` (a server the stack runs itself, or a self-hosted one).
* `managed`: what managed PostgreSQL offers: a LOGIN CREATEROLE CREATEDB role that is not a superuser
  and owns the stack's databases. On 16+ it also holds `pg_monitor` WITH ADMIN OPTION (without it, the
  program refuses the config at plan time: see `topology/capabilities.py`).

`ENGARDE_PG_VERSIONS` (default `15,17`) and `ENGARDE_ADMIN_KINDS` (default `superuser`) select the
combinations CI and `make test` run; `make test-matrix` selects all of them.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, replace
from typing import Literal

import psycopg
from psycopg import sql

from tests.realdb import postgres_builds
from tests.realdb.servers import RunningServer
from topology.capabilities import FIRST_VERSION_WITHOUT_CREATEROLE_GRANTS

AdminKind = Literal["superuser", "managed"]
ADMIN_KINDS: tuple[AdminKind, ...] = ("superuser", "managed")
VERSIONS = (postgres_builds.DEBIAN_MAJOR, *sorted(postgres_builds.BUILDS))
CI_VERSIONS = (15, 17)
CI_ADMIN_KINDS: tuple[AdminKind, ...] = ("superuser", "managed")
"""CI and `make test` run both admin kinds on 15 and 17; `make test-matrix` adds 16 and 18."""
VERSIONS_ENV = "ENGARDE_PG_VERSIONS"
KINDS_ENV = "ENGARDE_ADMIN_KINDS"
MANAGED_ADMIN = "engarde_admin"


@dataclass(frozen=True)
class Combination:
    """One cell of the matrix."""

    version: int
    kind: AdminKind

    @property
    def id(self) -> str:
        return f"pg{self.version}-{self.kind}"

    @property
    def admin_grants_pg_monitor(self) -> bool:
        """Whether the fixture's admin holds pg_monitor and pg_read_all_data WITH ADMIN OPTION (as a provider may)."""
        return self.kind == "managed" and self.version >= FIRST_VERSION_WITHOUT_CREATEROLE_GRANTS


def _selection(variable: str, default: str, allowed: tuple[str, ...]) -> list[str]:
    values = [v.strip() for v in os.environ.get(variable, default).split(",") if v.strip()]
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise ValueError(f"{variable}={os.environ.get(variable)!r}: choose from {', '.join(allowed)}")
    return values


def selected() -> list[Combination]:
    """The combinations the environment selects, PostgreSQL 15 with a superuser first when selected."""
    versions = _selection(VERSIONS_ENV, ",".join(map(str, CI_VERSIONS)), tuple(map(str, VERSIONS)))
    kinds = _selection(KINDS_ENV, ",".join(CI_ADMIN_KINDS), ADMIN_KINDS)
    return [Combination(int(v), k) for v in sorted(set(versions), key=int) for k in ADMIN_KINDS if k in kinds]


def stack_admin(bootstrap: RunningServer, combination: Combination) -> RunningServer:
    """The admin the stack connects as on a server whose bootstrap superuser is `bootstrap`."""
    if combination.kind == "superuser":
        return bootstrap
    password = secrets.token_urlsafe(24)
    with psycopg.connect(bootstrap.dsn(), autocommit=True) as connection:
        connection.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB PASSWORD {}").format(
                sql.Identifier(MANAGED_ADMIN), sql.Literal(password)
            )
        )
        if combination.admin_grants_pg_monitor:
            for predefined in ("pg_monitor", "pg_read_all_data"):
                grant = sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(
                    sql.Identifier(predefined), sql.Identifier(MANAGED_ADMIN)
                )
                connection.execute(grant)
    return replace(bootstrap, admin_user=MANAGED_ADMIN, admin_password=password)
