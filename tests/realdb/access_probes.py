"""Probing the access matrix on real servers: what a login role can do on a schema's tables."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from psycopg import errors

from resource_types import PG_ROLE
from review.capture.program import Capture, unwrap_secrets
from tests.graph import server_of
from tests.realdb.conftest import POSTGRES, Servers, service_dsns
from topology.sql import quote_ident

OPERATIONS = ("USAGE", "CREATE", "SELECT", "INSERT", "UPDATE", "DELETE", "SEQUENCE SELECT")
ALLOWED = {
    "owner": set(OPERATIONS),
    "read": {"USAGE", "SELECT", "SEQUENCE SELECT"},
    "write": {"USAGE", "SELECT", "INSERT", "UPDATE", "DELETE", "SEQUENCE SELECT"},
    # INSERT through the serial default works (sequence USAGE); the sequence cannot be read.
    "append": {"USAGE", "INSERT"},
    # pg_read_all_data: what a logical backup reads, and no more.
    "backup": {"USAGE", "SELECT", "SEQUENCE SELECT"},
    None: set(),
}
TABLES = ("t_before", "t_after")


def attempt(connection: psycopg.Connection[Any], statement: str) -> bool:
    """Run `statement` in a transaction that is rolled back; False if the server refused it."""
    try:
        with connection.transaction(force_rollback=True):
            connection.execute(statement)
    except errors.InsufficientPrivilege:
        return False
    return True


def probe(connection: psycopg.Connection[Any], schema: str, table: str) -> set[str]:
    s, t = quote_ident(schema), f"{quote_ident(schema)}.{quote_ident(table)}"
    checks: dict[str, Callable[[], bool]] = {
        "USAGE": lambda: bool(
            connection.execute("SELECT has_schema_privilege(current_user, %s, 'USAGE')", (schema,)).fetchone()[0]  # type: ignore[index]
        ),
        "CREATE": lambda: attempt(connection, f"CREATE TABLE {s}.probe (i int)"),
        "SELECT": lambda: attempt(connection, f"SELECT * FROM {t} LIMIT 1"),
        "INSERT": lambda: attempt(connection, f"INSERT INTO {t} (v) VALUES ('probe')"),
        "UPDATE": lambda: attempt(connection, f"UPDATE {t} SET v = 'probe' WHERE false"),
        "DELETE": lambda: attempt(connection, f"DELETE FROM {t} WHERE false"),
        "SEQUENCE SELECT": lambda: attempt(connection, f"SELECT last_value FROM {s}.{quote_ident(table + '_id_seq')}"),
    }
    return {operation for operation, check in checks.items() if check()}


Cell = tuple[str, str, str]
"""(server, schema, login role)"""


def declared_matrix(capture: Capture) -> dict[Cell, str]:
    """The stack's `accessMatrix` output: (server, schema, role) -> profile, PostgreSQL servers only."""
    rows = unwrap_secrets(capture.outputs["accessMatrix"])
    return {(r["server"], r["schema"], r["role"]): r["profile"] for r in rows if r["server"] in POSTGRES}


def login_roles(capture: Capture) -> list[tuple[str, str]]:
    """(server, role) of every login role the stack declares on a PostgreSQL server."""
    found = []
    for resource in capture.by_type(PG_ROLE):
        server = server_of(capture, resource)
        if server in POSTGRES and resource.inputs.get("login"):
            found.append((server, str(resource.inputs["name"])))
    return sorted(found)


def matrix_mismatches(capture: Capture, servers: Servers, expected: Mapping[Cell, str | None]) -> list[str]:
    """Every cell (login role x schema on its server, each table) whose probed access is not `expected`'s.

    Logs in with the DSN the capture's `services` output hands to each role's user.
    """
    dsns = service_dsns(capture, servers)
    schemas = {server: sorted({s for (srv, s, _r) in declared_matrix(capture) if srv == server}) for server in POSTGRES}
    mismatches = []
    for server, role in login_roles(capture):
        with psycopg.connect(dsns[(server, role)], autocommit=True) as connection:
            for schema in schemas[server]:
                profile = expected.get((server, schema, role))
                for table in TABLES:
                    found = probe(connection, schema, table)
                    if found != ALLOWED[profile]:
                        mismatches.append(
                            f"{server} {role} on {schema}.{table}: expected {profile}, can {sorted(found)}"
                        )
    return mismatches


def cell_count(capture: Capture) -> int:
    """How many (login role, schema) cells `matrix_mismatches` checks."""
    matrix = declared_matrix(capture)
    return sum(len({s for (srv, s, _r) in matrix if srv == server}) for server, _role in login_roles(capture))
