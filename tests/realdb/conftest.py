"""Real PostgreSQL 15 and MariaDB servers, and the stack's SQL applied to them.

The stack is configured with all three servers in `external` mode pointing at throwaway servers;
the program is captured under mocks and each server's create steps (`review.views.sql.sql_steps`, what
`review plan --format sql` renders, with the captured passwords) are applied once, as `pulumi up`
would run them on empty servers.

Every test that uses the servers runs once per selected (PostgreSQL version, admin kind): see
`tests/realdb/matrix.py`. Tests marked `postgres_independent` run once, on Debian's PostgreSQL 15
(with the first selected admin kind).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pymysql
import pytest
from psycopg.conninfo import conninfo_to_dict

from review.audit.catalog import read_mysql_grants, read_postgres
from review.capture.program import Capture, unwrap_secrets
from review.providers import ServerContext, server_context
from review.providers.refresh import live_context
from review.views.sql import SqlStep, sql_steps
from tests.conftest import cached_run_program
from tests.graph import plan_of
from tests.prerequisites import DEPS_POSTGRES, missing_prerequisite
from tests.realdb.matrix import Combination, selected, stack_admin
from tests.realdb.postgres_builds import DEBIAN_MAJOR
from tests.realdb.servers import (
    MARIADB_PACKAGE,
    RunningServer,
    mariadb_server,
    missing_postgres_build,
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
    combination: Combination = field(default_factory=lambda: Combination(15, "superuser"))
    superusers: Mapping[str, RunningServer] = field(default_factory=dict)
    """PostgreSQL server name -> its bootstrap superuser (the test's own hand; the stack never uses it)."""

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
        missing_prerequisite(f"the Debian packages {' '.join(missing)}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres_independent: runs once, on PostgreSQL 15, whatever the selection")
    config.addinivalue_line("markers", "admin_kind_independent: runs once per selected PostgreSQL version")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "servers" not in metafunc.fixturenames:
        return
    combinations = selected()
    if metafunc.definition.get_closest_marker("postgres_independent"):
        # Debian's PostgreSQL, whatever the selection: its pg_dump is the backup tests' client, and
        # the tests that build their own admin shapes assume its CREATEROLE rules.
        combinations = [Combination(DEBIAN_MAJOR, combinations[0].kind)]
    if metafunc.definition.get_closest_marker("admin_kind_independent"):
        combinations = list({c.version: c for c in reversed(combinations)}.values())[::-1]
    metafunc.parametrize("servers", combinations, indirect=True, ids=[c.id for c in combinations], scope="session")


def _mariadb_installed() -> bool:
    """Without MariaDB the PostgreSQL tests still run (in CI it fails instead: every server is required)."""
    if MARIADB_PACKAGE not in missing_server_packages():
        return True
    if os.environ.get("CI"):
        require_packages(MARIADB_PACKAGE)
    return False


def _require(combination: Combination) -> None:
    """Fail (CI) or skip this combination when a server it needs is not installed, naming the install command."""
    # Debian's postgresql-15 also brings the `postgres` OS user every version runs as.
    debian = [package for package in missing_server_packages() if package != MARIADB_PACKAGE]
    if debian:
        missing_prerequisite(f"{combination.id}: the Debian packages {' '.join(debian)}")
    build = missing_postgres_build(combination.version) if combination.version != 15 else None
    if build and combination.version in DEPS_POSTGRES:
        missing_prerequisite(f"{combination.id}: PostgreSQL {combination.version}")
    if build:
        # Outside the default selection (`make test-matrix` installs these itself).
        message = f"{combination.id} needs PostgreSQL {combination.version}: run {build}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def postgres_for(combination: Combination, name: str) -> Iterator[tuple[RunningServer, RunningServer]]:
    """A PostgreSQL server of the combination's version: (the stack's admin, the bootstrap superuser)."""
    with postgres_server(name, version=combination.version) as bootstrap:
        yield stack_admin(bootstrap, combination), bootstrap


@pytest.fixture(scope="session")
def servers(request: pytest.FixtureRequest) -> Iterator[Servers]:
    combination: Combination = request.param
    _require(combination)
    with contextlib.ExitStack() as stack:
        main, main_superuser = stack.enter_context(postgres_for(combination, "main"))
        flowdb, flowdb_superuser = stack.enter_context(postgres_for(combination, "flowdb"))
        yield Servers(
            main=main,
            flowdb=flowdb,
            scheduler=stack.enter_context(mariadb_server("scheduler")) if _mariadb_installed() else None,
            combination=combination,
            superusers={"main": main_superuser, "flowdb": flowdb_superuser},
        )


@contextlib.contextmanager
def one_postgres(servers: Servers, name: str) -> Iterator[Servers]:
    """Another PostgreSQL server like the session's, standing for both main and flowdb (shared placement)."""
    with postgres_for(servers.combination, name) as (pg, superuser):
        yield Servers(main=pg, flowdb=pg, scheduler=servers.scheduler, combination=servers.combination,
                      superusers={"main": superuser, "flowdb": superuser})  # fmt: skip


UNUSED_SCHEDULER = {"host": "127.0.0.1", "port": 9, "adminUser": "root"}
"""Where the stack's scheduler points when no MariaDB runs (the discard port; nothing connects)."""


def handed_over(server: RunningServer, database: str) -> None:
    """The server as a platform hands it over: the stack's database, empty, and no role but the admin."""
    with psycopg.connect(server.dsn("postgres"), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {quote_ident(database)} WITH (FORCE)")
        for (role,) in connection.execute(
            "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> current_user"
        ).fetchall():
            connection.execute(f"DROP ROLE {quote_ident(role)}")
        connection.execute(f"CREATE DATABASE {quote_ident(database)}")


STACK_DATABASES = {"main": "engarde", "flowdb": "langflow"}
"""The database of each PostgreSQL server in the external test stacks."""


def stack_servers_handed_over(servers: Servers) -> None:
    """Each PostgreSQL server as a platform hands it over (`handed_over`) with its `STACK_DATABASES` database."""
    for name in POSTGRES:
        handed_over(servers[name], STACK_DATABASES[name])


def handed_over_to_the_admin(servers: Servers) -> None:
    """Each PostgreSQL server as a platform hands it over to a stack's admin (a superuser or not): the stack's
    database, empty, owned by the admin; no role but the bootstrap superuser and the admin."""
    for name, database in STACK_DATABASES.items():
        admin = servers[name].admin_user
        with psycopg.connect(servers.superusers[name].dsn(), autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {quote_ident(database)} WITH (FORCE)")
            for (role,) in connection.execute(
                "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND rolname NOT IN (current_user, %s)", [admin]
            ).fetchall():
                connection.execute(f"DROP ROLE {quote_ident(role)}")
            connection.execute(f"CREATE DATABASE {quote_ident(database)} OWNER {quote_ident(admin)}")


def external_config(
    servers: Servers, /, admins: Mapping[str, RunningServer] | None = None, **overrides: Any
) -> dict[str, Any]:
    """Stack config pointing every server at the test servers, as prod points at managed ones.

    `admins`: servers whose provider connects as another admin (not a superuser) than the server's.
    """

    def chosen(name: str) -> RunningServer:
        return (admins or {}).get(name) or servers[name]

    def external(name: str, database: str) -> dict[str, Any]:
        server = chosen(name)
        return {"mode": "external", "host": server.host, "port": server.port, "database": database,
                "adminUser": server.admin_user, "sslmode": "disable", **postgres_admin(name)}  # fmt: skip

    def postgres_admin(name: str) -> dict[str, Any]:
        if name == "scheduler":
            return {"superuser": True}
        combination = servers.combination
        return {
            "superuser": combination.kind == "superuser" and name not in (admins or {}),
            "version": combination.version,
            "adminGrantsPgMonitor": combination.admin_grants_pg_monitor,
            "adminGrantsPgReadAllData": combination.admin_grants_pg_monitor,
        }

    scheduler = (
        external("scheduler", "easyappointments")
        if servers.scheduler is not None
        else {"mode": "external", "database": "easyappointments", "sslmode": "disable", **UNUSED_SCHEDULER}
    )
    config: dict[str, Any] = {
        "runContainers": False,
        "servers": {
            # The test servers run with max_connections=200 (tests/realdb/servers.py).
            "main": {**external("main", "engarde"), "maxConnections": 200},
            "flowdb": {**external("flowdb", "langflow"), "maxConnections": 200},
            "scheduler": scheduler,
        },
        "mainAdminPassword": chosen("main").admin_password,
        "flowdbAdminPassword": chosen("flowdb").admin_password,
        "schedulerAdminPassword": chosen("scheduler").admin_password if servers.scheduler else "unused",
    }
    config.update(overrides)
    return config


def admin(server: RunningServer, database: str) -> psycopg.Connection[Any]:
    return psycopg.connect(server.dsn(database), autocommit=True)


def superuser(servers: Servers, name: str, database: str) -> psycopg.Connection[Any]:
    """The bootstrap superuser of a PostgreSQL server: what a test does by hand, beyond the stack's admin."""
    return admin(servers.superusers.get(name, servers[name]), database)


def mysql_admin(server: RunningServer) -> Any:
    return pymysql.connect(host=server.host, port=server.port, user=server.admin_user,
                           password=server.admin_password, autocommit=True)  # fmt: skip


def apply_postgres(server: RunningServer, steps: list[SqlStep], default_database: str) -> None:
    """Run the steps as the provider does: each on its database, in one transaction where it uses one."""
    connections: dict[str, psycopg.Connection[Any]] = {}
    try:
        for step in steps:
            database = step.database or default_database
            if database not in connections:
                connections[database] = admin(server, database)
            connection = connections[database]
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


def live_server_context(capture: Capture, topology: Topology, server: RunningServer, name: str) -> ServerContext:
    """The provider's view of a PostgreSQL server: the captured stack plus what it would read live
    (memberships, table owners in every database the stack grants in)."""
    ctx = server_context(plan_of(capture), name)
    databases = {topology.servers[name].database, *(s.database for s in topology.layouts[name].schemas)}
    connections = {}
    try:
        for database in sorted(databases):
            with contextlib.suppress(psycopg.OperationalError):  # a database the steps create later
                connections[database] = admin(server, database)
        return live_context(ctx, connections)
    finally:
        for connection in connections.values():
            connection.close()


def apply_all(
    capture: Capture,
    topology: Topology,
    servers: Servers,
    only: Callable[[SqlStep], bool] | None = None,
    apply_to: tuple[str, ...] = (*POSTGRES, "scheduler"),
    admins: Mapping[str, RunningServer] | None = None,
) -> None:
    """Apply the create steps of each server in `apply_to` (those `only` keeps, if given), as the
    server's admin (`admins` overrides the superuser `servers` hold)."""
    for name in apply_to:
        if name not in topology.servers or (name == "scheduler" and servers.scheduler is None):
            continue
        server = (admins or {}).get(name, servers[name])
        if name == "scheduler":
            steps = sql_steps(plan_of(capture), name)
        else:
            steps = sql_steps(plan_of(capture), name, live_server_context(capture, topology, server, name))
        steps = [s for s in steps if only is None or only(s)]
        if name == "scheduler":
            apply_mysql(server, steps)
        else:
            apply_postgres(server, steps, topology.servers[name].database)


def snapshot(servers: Servers, topology: Topology, of: tuple[str, ...] = (*POSTGRES, "scheduler")) -> dict[str, Any]:
    """The catalogs of the servers in `of`: roles, memberships, ACLs, default privileges, MySQL grants."""
    state: dict[str, Any] = {}
    for name in POSTGRES:
        if name in topology.servers and name in of:
            with admin(servers[name], topology.servers[name].database) as connection:
                state[name] = read_postgres(connection, name).snapshot()
    if servers.scheduler is None or "scheduler" not in of:
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


def create_tables_as_owners(deployment: Deployment, table: str, on: tuple[str, ...] = POSTGRES) -> None:
    """A table with a serial column in every schema, owned by the schema's owner (as a migration makes it).
    Not in the foreign tables' schema: no migration writes there (its refresh function imports flowdb's)."""
    reads = deployment.topology.cross_database_reads
    for schema in deployment.topology.schemas:
        if schema.server not in on or (reads is not None and schema.name == reads.schema):
            continue
        with superuser(deployment.servers, schema.server, schema.database) as connection, connection.transaction():
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
    servers: Servers,
    /,
    stack: str = "dev",
    apply_to: tuple[str, ...] = (*POSTGRES, "scheduler"),
    admins: Mapping[str, RunningServer] | None = None,
    **overrides: Any,
) -> Deployment:
    """The stack's create steps applied once to empty servers, as the first `pulumi up` would.

    Roles, databases and schemas first; then tables a migration makes before any grant exists
    (`t_before`); then every other step; then tables made afterwards (`t_after`). `admins`: the
    admin each server's steps run as (default: the servers' superuser).
    """
    config = external_config(servers, admins, **overrides)
    topology = load_topology(config, stack)
    for name in POSTGRES:
        if name in topology.servers and name in apply_to:
            # The database an external server's provider finds, owned by the admin it hands out.
            with superuser(servers, name, "postgres") as connection:
                database = topology.servers[name].database
                if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                    owner = (admins or {}).get(name, servers[name]).admin_user
                    connection.execute(f"CREATE DATABASE {quote_ident(database)} OWNER {quote_ident(owner)}")
    secret_keys = tuple(key for key in config if key.endswith("AdminPassword"))
    capture = cached_run_program(config, stack, secret_keys=secret_keys)
    deployment = Deployment(capture, topology, servers, [], service_dsns(capture, servers))
    apply_all(capture, topology, servers, only=_owners_only, apply_to=apply_to, admins=admins)
    create_tables_as_owners(deployment, "t_before", apply_to)
    apply_all(capture, topology, servers, only=lambda step: not _owners_only(step), apply_to=apply_to, admins=admins)
    deployment.snapshots.append(snapshot(servers, topology, apply_to))
    create_tables_as_owners(deployment, "t_after", apply_to)
    return deployment


@pytest.fixture(scope="session")
def deployed(servers: Servers) -> Deployment:
    return deploy(servers)
