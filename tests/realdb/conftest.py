"""Real PostgreSQL 15 and MariaDB servers, and the stack's SQL applied to them.

The stack is configured with all three servers in `external` mode pointing at throwaway servers;
the program is captured under mocks and each server's `review plan --format sql --show-secrets`
steps are applied (the same code path as the rendered script).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pymysql
import pytest
from psycopg.conninfo import conninfo_to_dict

from review.capture import Capture, run_program, unwrap_secrets
from review.catalog import read_mysql_grants, read_postgres
from review.sql import SqlStep, sql_steps
from tests.realdb.servers import (
    MARIADB_PACKAGE,
    POSTGRES_PACKAGE,
    RunningServer,
    mariadb_server,
    missing_server_packages,
    postgres_server,
)
from topology import Topology, load_topology
from topology.sql import quote_ident

POSTGRES = ("main", "flowdb")


@dataclass(frozen=True)
class Servers:
    """The throwaway servers, by the stack's server names."""

    main: RunningServer
    flowdb: RunningServer
    scheduler: RunningServer | None
    """None without MariaDB: the stack's scheduler then points nowhere and nothing is applied to it."""

    def __getitem__(self, name: str) -> RunningServer:
        server: RunningServer | None = getattr(self, name)
        if server is None:
            require_packages(MARIADB_PACKAGE)
        assert server is not None
        return server


def require_packages(*packages: str) -> None:
    """Skip the calling test (fail it when `CI` is set) unless these server packages are installed."""
    missing = [package for package in packages if package in missing_server_packages()]
    if missing:
        message = f"this test needs the Debian packages: {' '.join(missing)} (apt-get install {' '.join(missing)})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_pair() -> Iterator[tuple[RunningServer, RunningServer]]:
    """Two PostgreSQL servers (the stack's main and flowdb); skipped without postgresql-15 only."""
    require_packages(POSTGRES_PACKAGE)
    with postgres_server("main") as main, postgres_server("flowdb") as flowdb:
        yield main, flowdb


@pytest.fixture(scope="session")
def scheduler_server() -> Iterator[RunningServer]:
    """A MariaDB server for the scheduler: tests that read it ask for this fixture (skipped without MariaDB)."""
    require_packages(MARIADB_PACKAGE)
    with mariadb_server("scheduler") as server:
        yield server


@pytest.fixture(scope="session")
def servers(request: pytest.FixtureRequest, postgres_pair: tuple[RunningServer, RunningServer]) -> Servers:
    """The PostgreSQL pair, plus MariaDB when it is installed (CI fails without it)."""
    if MARIADB_PACKAGE in missing_server_packages():
        if os.environ.get("CI"):
            require_packages(MARIADB_PACKAGE)
        scheduler = None
    else:
        scheduler = request.getfixturevalue("scheduler_server")
    main, flowdb = postgres_pair
    return Servers(main=main, flowdb=flowdb, scheduler=scheduler)


UNUSED_SCHEDULER = {"host": "127.0.0.1", "port": 9, "adminUser": "root"}
"""Where the stack's scheduler points when no MariaDB runs (the discard port; nothing connects)."""


def external_config(servers: Servers, /, **overrides: Any) -> dict[str, Any]:
    """Stack config pointing every server at the test servers, as prod points at managed ones."""

    def external(server: RunningServer, database: str) -> dict[str, Any]:
        return {"mode": "external", "host": server.host, "port": server.port, "database": database,
                "adminUser": server.admin_user, "sslmode": "disable", "superuser": True}  # fmt: skip

    scheduler = (
        external(servers.scheduler, "easyappointments")
        if servers.scheduler is not None
        else {"mode": "external", "database": "easyappointments", "sslmode": "disable", **UNUSED_SCHEDULER}
    )
    config: dict[str, Any] = {
        "runContainers": False,
        "servers": {
            # The test servers run with max_connections=200 (tests/realdb/servers.py).
            "main": {**external(servers.main, "engarde"), "maxConnections": 200},
            "flowdb": {**external(servers.flowdb, "langflow"), "maxConnections": 200},
            "scheduler": scheduler,
        },
        "mainAdminPassword": servers.main.admin_password,
        "flowdbAdminPassword": servers.flowdb.admin_password,
        "schedulerAdminPassword": servers.scheduler.admin_password if servers.scheduler else "unused",
    }
    config.update(overrides)
    return config


def admin(server: RunningServer, database: str) -> psycopg.Connection[Any]:
    return psycopg.connect(server.dsn(database), autocommit=True)


def mysql_admin(server: RunningServer) -> Any:
    return pymysql.connect(host=server.host, port=server.port, user=server.admin_user,
                           password=server.admin_password, autocommit=True)  # fmt: skip


def apply_postgres(server: RunningServer, steps: list[SqlStep], default_database: str) -> None:
    """Run the steps as the rendered psql script would: each step on its database, guarded ones skipped."""
    connections: dict[str, psycopg.Connection[Any]] = {}
    try:
        for step in steps:
            database = step.database or default_database
            if database not in connections:
                connections[database] = admin(server, database)
            connection = connections[database]
            if step.skip_if and connection.execute(step.skip_if).fetchone():
                continue
            if step.transaction:
                with connection.transaction():
                    for statement in step.statements:
                        connection.execute(statement)
            else:
                for statement in step.statements:
                    connection.execute(statement)
    finally:
        for connection in connections.values():
            connection.close()


def apply_mysql(server: RunningServer, steps: list[SqlStep]) -> None:
    connection = mysql_admin(server)
    try:
        with connection.cursor() as cursor:
            for step in steps:
                for statement in step.statements:
                    cursor.execute(statement)
    finally:
        connection.close()


def apply_all(
    capture: Capture,
    topology: Topology,
    servers: Servers,
    only: Callable[[SqlStep], bool] | None = None,
    apply_to: tuple[str, ...] = (*POSTGRES, "scheduler"),
) -> None:
    """Apply the SQL of each server in `apply_to` (the steps `only` keeps, if given)."""
    for name in apply_to:
        if name not in topology.servers or (name == "scheduler" and servers.scheduler is None):
            continue
        steps = [s for s in sql_steps(capture, name, show_secrets=True) if only is None or only(s)]
        if name == "scheduler":
            apply_mysql(servers[name], steps)
        else:
            apply_postgres(servers[name], steps, topology.servers[name].database)


def snapshot(servers: Servers, topology: Topology) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for name in POSTGRES:
        if name in topology.servers:
            with admin(servers[name], topology.servers[name].database) as connection:
                state[name] = read_postgres(connection).snapshot()
    if servers.scheduler is None:
        return state
    connection = mysql_admin(servers.scheduler)
    try:
        state["scheduler"] = {u.name: read_mysql_grants(connection, u.name, "%") for u in topology.database_users}
    finally:
        connection.close()
    return state


@dataclass
class Deployment:
    """The stack applied to the test servers."""

    capture: Capture
    topology: Topology
    servers: Servers
    snapshots: list[dict[str, Any]]
    dsns: dict[tuple[str, str], str]
    """(server, login role) -> the DSN the `services` output hands to its user"""

    def connect(self, server: str, role: str, **overrides: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsns[(server, role)], **overrides)


def service_dsns(capture: Capture, servers: Servers) -> dict[tuple[str, str], str]:
    by_port: dict[str, str] = {}
    for name in POSTGRES:  # main first: in shared placement both names are one server
        by_port.setdefault(str(servers[name].port), name)
    dsns: dict[tuple[str, str], str] = {}
    for service in unwrap_secrets(capture.outputs["services"]).values():
        for value in service["env"].values():
            if isinstance(value, str) and value.startswith("postgresql://"):
                parsed = conninfo_to_dict(value)
                server = by_port.get(str(parsed["port"]))
                if server is not None:  # else a pooler's port: its tests read the pooled DSNs themselves
                    dsns.setdefault((server, str(parsed["user"])), value)
    return dsns


def create_tables_as_owners(deployment: Deployment, table: str) -> None:
    """A table with a serial column in every schema, owned by the schema's owner (as a migration makes it)."""
    for schema in deployment.topology.schemas:
        server = deployment.servers[schema.server]
        with admin(server, schema.database) as connection, connection.transaction():
            connection.execute(f"SET LOCAL ROLE {quote_ident(schema.owner)}")
            connection.execute(
                f"CREATE TABLE {quote_ident(schema.name)}.{quote_ident(table)} (id serial PRIMARY KEY, v text)"
            )


def _owners_only(step: SqlStep) -> bool:
    if step.resource.startswith(("postgresql:Role", "postgresql:Database", "postgresql:Schema")):
        return True
    # The grants of a schema that exists already (`public`): PUBLIC's revoke and the owner's own.
    return step.resource.startswith("postgresql:Grant") and step.resource.endswith(("-public-revoke", "-owner"))


def deploy(
    servers: Servers, /, stack: str = "dev", apply_to: tuple[str, ...] = (*POSTGRES, "scheduler"), **overrides: Any
) -> Deployment:
    config = external_config(servers, **overrides)
    topology = load_topology(config, stack)
    for name in POSTGRES:
        if name in topology.servers and name in apply_to:
            with admin(servers[name], "postgres") as connection:
                database = topology.servers[name].database
                if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                    connection.execute(f"CREATE DATABASE {quote_ident(database)}")
    secret_keys = tuple(key for key in config if key.endswith("AdminPassword"))
    capture = run_program(config, stack, secret_keys=secret_keys)
    deployment = Deployment(capture, topology, servers, [], service_dsns(capture, servers))
    # Roles, schemas and owners first, then tables a migration made before any other grant existed.
    apply_all(capture, topology, servers, only=_owners_only, apply_to=apply_to)
    create_tables_as_owners(deployment, "t_before")
    apply_all(capture, topology, servers, apply_to=apply_to)
    deployment.snapshots.append(snapshot(servers, topology))
    apply_all(capture, topology, servers, apply_to=apply_to)
    deployment.snapshots.append(snapshot(servers, topology))
    create_tables_as_owners(deployment, "t_after")
    return deployment


@pytest.fixture(scope="session")
def deployed(servers: Servers) -> Deployment:
    return deploy(servers)
