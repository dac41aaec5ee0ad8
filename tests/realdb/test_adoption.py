"""Adopting what exists, on real servers holding data: the scheduler's MySQL database with its rows,
and a PostgreSQL role owning a table with rows.

Pulumi's `import` reads the object with the provider and, for the import to go through, the
program's inputs must equal that read. These tests run the provider's read (its SQL, as the pinned
providers run it), compare it with what the program registers, then run the statements the
following operations execute, and check that nothing was lost.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pymysql
import pytest

from resource_types import MYSQL_DATABASE, MYSQL_USER
from review.capture.program import Capture, Resource
from review.views.sql import sql_steps
from tests.conftest import cached_run_program
from tests.graph import ROLE, env_of, inputs, plan_of
from tests.realdb.conftest import Servers, apply_postgres
from tests.realdb.servers import RunningServer, mariadb_server, postgres_server
from topology.sql import quote_ident, quote_literal

# Adoption starts servers of its own with objects already in them: the first combination runs it.
pytestmark = pytest.mark.postgres_independent

ADOPTED = "madansara_user"
ROWS = [(1, "first"), (2, "second"), (3, "third")]


@dataclass(frozen=True)
class Existing:
    """Servers that hold objects and data from before the stack."""

    postgres: RunningServer
    mysql: RunningServer


@pytest.fixture(scope="module")
def existing(servers: Servers) -> Iterator[Existing]:
    """`servers` only for its check that the server packages are installed."""
    with contextlib.ExitStack() as stack:
        postgres = stack.enter_context(postgres_server("adopt"))
        mysql = stack.enter_context(mariadb_server("adopt"))
        with psycopg.connect(postgres.dsn(), autocommit=True) as connection:
            connection.execute("CREATE DATABASE railway")
            connection.execute(f"CREATE ROLE {ADOPTED} LOGIN PASSWORD 'set by hand long ago'")
        with psycopg.connect(postgres.dsn("railway"), autocommit=True) as connection:
            connection.execute(f"CREATE SCHEMA madansara AUTHORIZATION {ADOPTED}")
            connection.execute(f"SET ROLE {ADOPTED}")
            connection.execute("CREATE TABLE madansara.bookings (id int PRIMARY KEY, note text)")
            for row in ROWS:
                connection.execute("INSERT INTO madansara.bookings VALUES (%s, %s)", row)
        with mysql_connection(mysql) as cursor:
            cursor.execute("CREATE DATABASE easyappointments CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            cursor.execute("CREATE TABLE easyappointments.ea_appointments (id int PRIMARY KEY, note text)")
            cursor.executemany("INSERT INTO easyappointments.ea_appointments VALUES (%s, %s)", ROWS)
        yield Existing(postgres, mysql)


@contextlib.contextmanager
def mysql_connection(server: RunningServer, user: str | None = None, password: str | None = None) -> Iterator[Any]:
    connection = pymysql.connect(host=server.host, port=server.port, user=user or server.admin_user,
                                 password=password or server.admin_password, autocommit=True)  # fmt: skip
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


def stack_config(existing: Existing, *, adopt_roles: list[str], **scheduler: Any) -> dict[str, Any]:
    postgres, mysql = existing.postgres, existing.mysql
    return {
        "runContainers": False,
        "protect": True,
        "langflowPlacement": "shared",
        "servers": {
            "main": {"mode": "external", "host": postgres.host, "port": postgres.port, "database": "railway",
                     "adminUser": postgres.admin_user, "sslmode": "disable", "superuser": True,
                     "maxConnections": 200, "adoptRoles": adopt_roles},
            "scheduler": {"mode": "external", "host": mysql.host, "port": mysql.port, "database": "easyappointments",
                          "adminUser": mysql.admin_user, "sslmode": "disable", "adoptDatabase": True, **scheduler},
        },
        "mainAdminPassword": postgres.admin_password,
        "schedulerAdminPassword": mysql.admin_password,
    }  # fmt: skip


def program(existing: Existing, *, adopt_roles: list[str], **scheduler: Any) -> Capture:
    config = stack_config(existing, adopt_roles=adopt_roles, **scheduler)
    return cached_run_program(config, "prod", secret_keys=("mainAdminPassword", "schedulerAdminPassword"))


def the(capture: Capture, type_: str, name: str) -> Resource:
    return next(r for r in capture.resources if r.type == type_ and r.name == name)


# The providers' reads ---------------------------------------------------------------------------


def read_mysql_database(server: RunningServer, name: str) -> dict[str, str]:
    """hashicorp/terraform-provider-mysql v1.9.0 resource_database.go: ReadDatabase (the import's read)."""

    def ident_after(sql: str, keyword: str) -> str:  # extractIdentAfter
        index = sql.find(keyword)
        return "" if index == -1 else sql[index + len(keyword) :].split(" ", 1)[0]

    with mysql_connection(server) as cursor:
        cursor.execute(f"SHOW CREATE DATABASE `{name}`")
        _, create_sql = cursor.fetchone()
        charset = ident_after(create_sql, "CHARACTER SET ")
        collation = ident_after(create_sql, "COLLATE ")
        if collation == "" and charset != "":
            cursor.execute("SHOW COLLATION WHERE `Charset` = %s AND `Default` = 'Yes'", (charset,))
            collation = cursor.fetchone()[0]
    return {"name": name, "defaultCharacterSet": charset, "defaultCollation": collation}


def read_postgres_role(server: RunningServer, name: str) -> dict[str, Any]:
    """cyrilgdn/terraform-provider-postgresql resource_postgresql_role.go: resourcePostgreSQLRoleReadImpl,
    as the import runs it (no prior state: no password is read back)."""
    with psycopg.connect(server.dsn()) as connection:
        row = connection.execute(
            "SELECT ARRAY(SELECT pg_get_userbyid(roleid) FROM pg_catalog.pg_auth_members members"
            " WHERE member = pg_roles.oid), rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,"
            " rolconnlimit, COALESCE(rolvaliduntil::TEXT, 'infinity'), rolconfig, rolreplication, rolbypassrls"
            " FROM pg_catalog.pg_roles WHERE rolname = %s",
            (name,),
        ).fetchone()
    assert row is not None
    roles, rolname, superuser, inherit, createrole, createdb, login, connlimit, valid_until, config, repl, bypass = row
    search_path: list[str] = next(
        (c.split("=", 1)[1].split(", ") for c in config or [] if c.startswith("search_path=")), []
    )
    return {"roles": sorted(roles), "name": rolname, "superuser": superuser, "inherit": inherit,
            "createRole": createrole, "createDatabase": createdb, "login": login, "connectionLimit": connlimit,
            "validUntil": valid_until, "replication": repl, "bypassRowLevelSecurity": bypass,
            "searchPaths": search_path, "skipReassignOwned": False}  # fmt: skip


SCHEMA_DEFAULTS: dict[str, Any] = {"connectionLimit": -1, "validUntil": "infinity", "roles": [], "searchPaths": []}
"""Inputs the program leaves to the provider's schema defaults (resource_postgresql_role.go)."""


def import_mismatches(resource: Resource, read: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """What the engine's import check would report: inputs (after `ignore_changes`) unlike the read."""
    desired = {**SCHEMA_DEFAULTS, **inputs(resource)}
    ignored = set(resource.ignore_changes)
    return {
        key: (desired.get(key), value)
        for key, value in read.items()
        if key not in ignored
        and desired.get(key) != value
        and not (key == "roles" and not value and not desired.get(key))
    }


# MySQL: the scheduler's database ----------------------------------------------------------------


def test_the_scheduler_database_is_imported_with_inputs_equal_to_the_providers_read(existing: Existing) -> None:
    capture = program(existing, adopt_roles=[])
    database = the(capture, MYSQL_DATABASE, "scheduler-easyappointments")
    assert database.import_id == "easyappointments" and database.protect
    read = read_mysql_database(existing.mysql, "easyappointments")
    assert {key: inputs(database)[key] for key in read} == read


def test_a_collation_unlike_the_servers_would_stop_the_import(existing: Existing) -> None:
    """Why the collation is configurable: the default would not match a database created with another one."""
    capture = program(existing, adopt_roles=[], collation="utf8mb4_general_ci")
    database = the(capture, MYSQL_DATABASE, "scheduler-easyappointments")
    read = read_mysql_database(existing.mysql, "easyappointments")
    assert inputs(database)["defaultCollation"] != read["defaultCollation"]


def test_after_the_import_the_user_and_grant_are_created_and_the_rows_stay(existing: Existing) -> None:
    capture = program(existing, adopt_roles=[])
    user = inputs(the(capture, MYSQL_USER, "scheduler-easyappointments-user"))
    password = str(user["plaintextPassword"])
    assert env_of(capture, "egm-scheduler")["DB_PASSWORD"] == password
    with mysql_connection(existing.mysql) as cursor:
        # resource_user.go: CreateUser (tls_option defaults to NONE); resource_grant.go: CreateGrant.
        cursor.execute(f"CREATE USER '{user['user']}'@'{user['host']}' IDENTIFIED BY '{password}' REQUIRE NONE")
        cursor.execute(f"GRANT ALL PRIVILEGES ON `easyappointments`.* TO '{user['user']}'@'{user['host']}'")
    with mysql_connection(existing.mysql, str(user["user"]), password) as cursor:
        cursor.execute("SELECT id, note FROM easyappointments.ea_appointments ORDER BY id")
        assert [tuple(row) for row in cursor.fetchall()] == ROWS


# PostgreSQL: an existing role that owns data ------------------------------------------------------


def test_an_adopted_role_is_imported_and_its_read_matches_the_program(existing: Existing) -> None:
    capture = program(existing, adopt_roles=[ADOPTED])
    role = the(capture, ROLE, f"main-{ADOPTED}")
    assert role.import_id == ADOPTED
    assert set(role.ignore_changes) == {"password", "roles", "searchPaths", "skipReassignOwned", "connectionLimit"}
    assert import_mismatches(role, read_postgres_role(existing.postgres, ADOPTED)) == {}
    others = [r for r in capture.resources if r.import_id and r.type == ROLE and r is not role]
    assert not others, "only the roles config lists are imported"


def test_an_existing_role_with_other_attributes_would_stop_the_import(existing: Existing) -> None:
    capture = program(existing, adopt_roles=[ADOPTED])
    role = the(capture, ROLE, f"main-{ADOPTED}")
    with psycopg.connect(existing.postgres.dsn(), autocommit=True) as connection:
        connection.execute(f"ALTER ROLE {ADOPTED} CREATEDB")
        try:
            mismatches = import_mismatches(role, read_postgres_role(existing.postgres, ADOPTED))
        finally:
            connection.execute(f"ALTER ROLE {ADOPTED} NOCREATEDB")
    assert mismatches == {"createDatabase": (False, True)}


def test_the_next_update_sets_password_memberships_and_search_path_and_keeps_the_data(existing: Existing) -> None:
    # The adopting `pulumi up` has imported the role; the role is then taken off `adoptRoles`.
    capture = program(existing, adopt_roles=[])
    role = inputs(the(capture, ROLE, f"main-{ADOPTED}"))
    # Everything else the update creates (group roles, grants), as rendered for the server; the
    # adopted role itself is updated below with the provider's own statements.
    steps = [s for s in sql_steps(plan_of(capture), "main") if not s.resource.endswith(f" main-{ADOPTED}")]
    apply_postgres(existing.postgres, steps, "railway")
    name = quote_ident(ADOPTED)
    groups = [str(g) for g in role["roles"]]  # type: ignore[attr-defined]
    with psycopg.connect(existing.postgres.dsn()) as connection, connection.transaction():
        # resource_postgresql_role.go: resourcePostgreSQLRoleUpdate -> setRolePassword, revokeRoles,
        # grantRoles, alterSearchPath (the attribute setters change nothing: the read matched).
        connection.execute(f"ALTER ROLE {name} PASSWORD {quote_literal(str(role['password']))}")
        for (member_of,) in connection.execute(
            "SELECT pg_get_userbyid(roleid) FROM pg_catalog.pg_auth_members members"
            " JOIN pg_catalog.pg_roles ON members.member = pg_roles.oid WHERE rolname = %s",
            (ADOPTED,),
        ).fetchall():
            connection.execute(f"REVOKE {quote_ident(member_of)} FROM {name}")
        for group in groups:
            connection.execute(f"GRANT {quote_ident(group)} TO {name}")
        search_path = ", ".join(quote_ident(str(s)) for s in role["searchPaths"])  # type: ignore[attr-defined]
        connection.execute(f"ALTER ROLE {name} SET search_path TO {search_path}")
    assert "audit_append" in groups
    # The service's DSN from the `services` output logs in and finds its data, still its own.
    with psycopg.connect(env_of(capture, "madan-sara")["DATABASE_URL"]) as connection:
        assert connection.execute("SELECT id, note FROM bookings ORDER BY id").fetchall() == ROWS
        owner = connection.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'bookings'").fetchone()
        assert owner == (ADOPTED,)
        assert connection.execute("SELECT pg_has_role('audit_append', 'USAGE')").fetchone() == (True,)
    after = read_postgres_role(existing.postgres, ADOPTED)
    # What a refresh now reads is what the program declares: the next `pulumi up` has nothing to do.
    assert (after["roles"], after["searchPaths"]) == (sorted(groups), role["searchPaths"])
