"""The stack's life beyond day 2, through the real engine: identities kept across the tree change,
protection, a destroy that leaves the server as it was, and adoption of what a server already holds
(last: the servers keep what it adopted)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from pulumi import automation as auto

from components.audit import AUDIT_TABLE
from resource_types import MYSQL_PREFIX, PG_ROLE, RANDOM_PASSWORD
from tests.e2e.conftest import Deployed, deployed_stack, program_capture
from tests.e2e.engine import Recorder
from tests.realdb.access_probes import declared_matrix, matrix_mismatches
from tests.realdb.conftest import POSTGRES, Servers, admin, create_tables_as_owners, external_config, service_dsns
from tests.realdb.conftest import Deployment as Applied
from topology import load_topology
from topology.catalog import AUDIT_SCHEMA
from topology.sql import quote_ident

TREE_BEFORE_NESTING = "582323a"
"""The last commit whose components were not nested under their server's."""
DESTRUCTIVE = ("create", "replace", "create-replacement", "delete", "delete-replaced")


def _as_applied(deployed: Deployed) -> Applied:
    capture = deployed.with_real_outputs()
    return Applied(capture, deployed.topology, deployed.servers, [], service_dsns(capture, deployed.servers))


def _every_cell_holds(deployed: Deployed) -> None:
    capture = deployed.with_real_outputs()
    assert matrix_mismatches(capture, deployed.servers, declared_matrix(capture)) == []


def empty_the_layout(deployed: Deployed) -> None:
    """Drop the audit table by hand: its dynamic provider never drops it (components/sql_script.py),
    so a destroy stops at the audit schema while the table is there."""
    with admin(deployed.servers.superusers["main"], "engarde") as connection:
        connection.execute(f"DROP TABLE {quote_ident(AUDIT_SCHEMA)}.{quote_ident(AUDIT_TABLE)}")


def server_state(servers: Servers) -> dict[str, Any]:
    """What a server holds outside the stack's reach: roles, databases and their owners, schemas."""
    state: dict[str, Any] = {}
    for name in POSTGRES:
        with admin(servers.superusers[name], "postgres") as connection:
            roles = connection.execute("SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1").fetchall()
            databases = connection.execute(
                "SELECT datname, pg_get_userbyid(datdba) FROM pg_database ORDER BY 1"
            ).fetchall()
        database = "engarde" if name == "main" else "langflow"
        with admin(servers.superusers[name], database) as connection:
            schemas = connection.execute(
                "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname !~ '^pg_'"
                " AND nspname <> 'information_schema' ORDER BY 1"
            ).fetchall()
        state[name] = {"roles": roles, "databases": databases, "schemas": schemas}
    return state


def test_the_nested_tree_keeps_every_identity(engine_servers: Servers) -> None:
    with deployed_stack(engine_servers, ref=TREE_BEFORE_NESTING) as deployed:
        made = Recorder()
        # One step at a time: that program ran a managed admin's grants concurrently, which the
        # provider's pgLockRole can deadlock (the program now chains them per server).
        deployed.engine.stack.up(parallel=1, on_event=made)
        made_mysql = [s.urn for s in made.steps if s.op == "create" and s.type.startswith(MYSQL_PREFIX)]
        assert len(made_mysql) == len(deployed.mysql_urns()), "the scheduler's resources, under their old URNs"
        deployed.engine.use_program(None)
        preview = Recorder()
        deployed.engine.stack.preview(on_event=preview)
        # By design since that program: each server's SCRAM salt key replaces its login roles' salts (state
        # only: docs/operations.md), and reading the stack's own outputs adds the engine's builtin provider.
        by_design = [
            (op, urn) for op, urn in ((s.op, s.urn) for s in preview.steps if s.op in DESTRUCTIVE)
            if (op == "create" and urn.endswith(("-scram-salt-key", "::pulumi:providers:pulumi::default")))
            or (op == "delete" and urn.endswith("-scram-salt") and RANDOM_PASSWORD in urn)
        ]  # fmt: skip
        assert [(s.op, s.urn) for s in preview.steps if s.op in DESTRUCTIVE and (s.op, s.urn) not in by_design] == []
        assert len([step for step in by_design if step[0] == "create"]) == 3
        deployed.up()
        for table in ("t_before", "t_after"):
            create_tables_as_owners(_as_applied(deployed), table)
        _every_cell_holds(deployed)
        with admin(engine_servers.superusers["main"], "engarde") as connection:
            for schema in deployed.topology.schemas:
                if schema.server == "main":
                    connection.execute(
                        f"DROP TABLE {quote_ident(schema.name)}.t_before, {quote_ident(schema.name)}.t_after"
                    )
        with admin(engine_servers.superusers["flowdb"], "langflow") as connection:
            connection.execute("DROP TABLE public.t_before, public.t_after")
        empty_the_layout(deployed)
        deployed.engine.stack.destroy()  # the next tests start from servers without the layout


def _servers_with(servers: Servers, extra: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The `servers` config of `external_config`, with `extra` keys merged into the named servers."""
    base = external_config(servers)["servers"]
    return {name: {**body, **extra.get(name, {})} for name, body in base.items()}


def test_protection_refuses_destroy_and_a_destroy_never_drops_data(engine_servers: Servers) -> None:
    before = server_state(engine_servers)
    with deployed_stack(engine_servers, protect=True) as deployed:
        deployed.up()
        with pytest.raises(auto.CommandError, match="protected"):
            deployed.engine.stack.destroy()
        # Unprotected (as a dev stack is), over a layout whose schemas hold rows.
        deployed.config = external_config(engine_servers, protect=False)
        deployed.engine.configure(deployed.config)
        deployed.up()
        create_tables_as_owners(_as_applied(deployed), "t_kept")
        schemas = [(s.server, s.database, s.name) for s in deployed.topology.schemas]
        for server, database, schema in schemas:
            with admin(engine_servers.superusers[server], database) as connection:
                connection.execute(f"INSERT INTO {quote_ident(schema)}.t_kept (v) VALUES ('row')")
        with pytest.raises(auto.CommandError):
            deployed.engine.stack.destroy()
        for server, database, schema in schemas:
            with admin(engine_servers.superusers[server], database) as connection:
                table = f"{quote_ident(schema)}.t_kept"
                assert connection.execute(f"SELECT v FROM {table}").fetchall() == [("row",)], table
                connection.execute(f"DROP TABLE {table}")
        # Of an empty layout: the server as it was before the first `up`.
        empty_the_layout(deployed)
        deployed.engine.stack.destroy()
        assert server_state(engine_servers) == before


def test_adopting_roles_that_own_rows_keeps_them_and_recreates_nothing(engine_servers: Servers) -> None:
    # What the server held before the stack: the app's login role, made by the admin the stack
    # connects as (on PostgreSQL 16+ a CREATEROLE admin manages only the roles it made), owning rows.
    with admin(engine_servers.main, "engarde") as connection:
        connection.execute("CREATE ROLE engarde_app LOGIN PASSWORD 'set by hand long ago'")
    with admin(engine_servers.superusers["main"], "engarde") as connection:
        connection.execute("CREATE TABLE public.bookings (id int PRIMARY KEY, note text)")
        connection.execute("INSERT INTO public.bookings VALUES (1, 'kept'), (2, 'kept too')")
        connection.execute("ALTER TABLE public.bookings OWNER TO engarde_app")
    adopting = {"adoptRoles": ["engarde_app"]}
    servers = {"main": adopting}
    with deployed_stack(engine_servers, servers=_servers_with(engine_servers, servers)) as deployed:
        recorder = deployed.up()
        role_urn = next(
            deployed.engine_urn(r)
            for r in deployed.capture.by_type(PG_ROLE)
            if r.inputs.get("name") == "engarde_app" and "main" in r.name
        )
        assert ("import", role_urn) in {(s.op, s.urn) for s in recorder.steps}
        assert [(s.op, s.urn) for s in recorder.steps if s.op in DESTRUCTIVE[1:]] == []
        # Off adoptRoles: the next `up` sets the generated password, memberships and search_path.
        deployed.config = external_config(engine_servers)
        deployed.topology = load_topology(deployed.config, "dev")
        deployed.capture = program_capture(deployed.config)
        deployed.engine.configure(deployed.config)
        second = deployed.up()
        assert ("update", role_urn) in {(s.op, s.urn) for s in second.steps}
        assert [(s.op, s.urn) for s in second.steps if s.op in DESTRUCTIVE] == []
        dsn = service_dsns(deployed.with_real_outputs(), engine_servers)[("main", "engarde_app")]
        with psycopg.connect(dsn) as connection:
            rows = connection.execute("SELECT note FROM public.bookings ORDER BY id").fetchall()
        assert rows == [("kept",), ("kept too",)]
