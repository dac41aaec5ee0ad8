"""Update and delete, as the providers run them, on real servers: with a superuser admin and with a
managed-style admin (LOGIN CREATEROLE CREATEDB, owner of the database, not a superuser) on
PostgreSQL 15, and on MariaDB. Each scenario applies what `review.providers.lifecycle` says the provider
runs, and checks the effect a user depends on."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import psycopg
import pymysql
import pytest
from psycopg import errors
from psycopg.conninfo import make_conninfo

from resource_types import MYSQL_GRANT, MYSQL_USER, PG_GRANT, PG_GRANT_ROLE, PG_ROLE, PG_SCHEMA, POSTGRESQL_PREFIX
from review.capture.program import Capture, Resource, Secret, unwrap_secrets
from review.providers import (
    create_steps,
    delete_steps,
    inputs_of,
    server_context,
    update_steps,
)
from review.providers.refresh import refreshed_inputs
from tests.graph import plan_of, server_of
from tests.realdb.conftest import (
    Deployment,
    Servers,
    admin,
    apply_mysql,
    apply_postgres,
    deploy,
    live_server_context,
    mysql_admin,
)
from tests.realdb.servers import RunningServer, mariadb_server, postgres_server

ADMIN_KINDS = ("superuser", "managed")
MANAGED_ADMIN, MANAGED_PASSWORD = "managed_admin", "managed-admin-pw"


@dataclasses.dataclass
class Layout:
    """A stack deployed on its own servers (shared placement: one PostgreSQL server)."""

    deployment: Deployment
    runner: RunningServer
    """Who the provider connects as: the superuser or the managed admin."""

    @property
    def capture(self) -> Capture:
        return self.deployment.capture

    def resource(self, type_: str, **match: str) -> Resource:
        for candidate in self.capture.by_type(type_):
            inputs = unwrap_secrets(candidate.inputs)
            if (
                all(inputs.get(key) == value for key, value in match.items())
                and server_of(self.capture, candidate) == "main"
            ):
                return candidate
        raise LookupError(f"{type_} {match}")

    def apply(self, steps: list[Any]) -> None:
        apply_postgres(self.runner, steps, "engarde")

    def context(self) -> Any:
        return live_server_context(self.capture, self.deployment.topology, self.runner, "main")

    def superuser(self, database: str = "engarde") -> psycopg.Connection[Any]:
        return admin(self.deployment.servers.main, database)


@pytest.fixture(scope="module", params=ADMIN_KINDS)
def layout(request: pytest.FixtureRequest, servers: Servers) -> Iterator[Layout]:
    with postgres_server(f"lifecycle-{request.param}") as main:
        admins: dict[str, RunningServer] = {}
        if request.param == "managed":
            with admin(main, "postgres") as connection:
                connection.execute(
                    f"CREATE ROLE {MANAGED_ADMIN} LOGIN CREATEROLE CREATEDB PASSWORD '{MANAGED_PASSWORD}'"
                )
            admins["main"] = dataclasses.replace(main, admin_user=MANAGED_ADMIN, admin_password=MANAGED_PASSWORD)
        own = Servers(main=main, flowdb=main, scheduler=servers["scheduler"])
        deployment = deploy(own, apply_to=("main",), admins=admins, langflowPlacement="shared")
        yield Layout(deployment, admins.get("main", main))


@pytest.fixture(scope="module")
def scheduler(servers: Servers) -> Iterator[Deployment]:
    """The scheduler's database and user on a MariaDB server of their own."""
    with mariadb_server("lifecycle") as server:
        yield deploy(Servers(main=servers.main, flowdb=servers.flowdb, scheduler=server), apply_to=("scheduler",))


def _memberships(connection: psycopg.Connection[Any], role: str) -> set[str]:
    rows = connection.execute(
        "SELECT pg_get_userbyid(roleid) FROM pg_auth_members WHERE pg_get_userbyid(member) = %s", (role,)
    ).fetchall()
    return {row[0] for row in rows}


def _cells(layout: Layout) -> dict[tuple[str, str], str | None]:
    """(login role, schema) -> profile on main, None where the stack grants nothing."""
    rows = unwrap_secrets(layout.capture.outputs["accessMatrix"])
    declared = {(r["role"], r["schema"]): r["profile"] for r in rows if r["server"] == "main"}
    roles = {role for role, _schema in declared}
    schemas = {schema for _role, schema in declared}
    return {(role, schema): declared.get((role, schema)) for role in roles for schema in schemas}


SELECT_CHECK = "SELECT has_table_privilege(%s, %s, 'SELECT'), has_schema_privilege(%s, %s, 'USAGE')"


def test_the_layout_applies_once_and_every_matrix_cell_holds(layout: Layout) -> None:
    checked = 0
    with layout.superuser() as connection:
        for (role, schema), profile in _cells(layout).items():
            table = f'"{schema}"."t_after"'
            can_select, usage = connection.execute(SELECT_CHECK, (role, table, role, schema)).fetchone()  # type: ignore[misc]
            assert can_select == (profile in ("owner", "read", "write", "backup")), (role, schema, profile)
            assert usage == (profile is not None), (role, schema, profile)
            checked += 1
        assert checked >= 30
        if layout.runner.admin_user == MANAGED_ADMIN:
            # every temporary GRANT <owner> TO the admin was revoked again
            assert _memberships(connection, MANAGED_ADMIN) == set()
            row = connection.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (MANAGED_ADMIN,)).fetchone()
            assert row == (False,)


def test_rotating_a_password_revokes_memberships_the_role_update_does_not_list(layout: Layout) -> None:
    role = layout.resource(PG_ROLE, name="madansara_user")
    declared = set(unwrap_secrets(role.inputs).get("roles") or [])
    granted_elsewhere = [
        g for g in layout.capture.by_type(PG_GRANT_ROLE) if unwrap_secrets(g.inputs)["role"] == "madansara_user"
    ]
    rotated = dataclasses.replace(role, inputs={**role.inputs, "password": Secret("Rotated-Password-1")})
    layout.apply(update_steps(role, rotated, layout.context()))
    with layout.superuser() as connection:
        assert _memberships(connection, "madansara_user") == declared
        for membership in granted_elsewhere:
            # the refresh finds the GrantRole gone: the next `pulumi up` creates it again
            assert refreshed_inputs(membership, connection, layout.context()) is None
    layout.apply(
        [step for g in granted_elsewhere for step in create_steps(g, server_context(plan_of(layout.capture), "main"))]
    )
    dsn = make_conninfo(
        layout.deployment.servers.main.dsn("engarde"), user="madansara_user", password="Rotated-Password-1"
    )
    with psycopg.connect(dsn) as connection:
        assert connection.execute("SELECT current_user").fetchone() == ("madansara_user",)
    with layout.superuser() as connection:
        refreshed = refreshed_inputs(role, connection, layout.context())
        assert refreshed is not None
        live = declared | {unwrap_secrets(g.inputs)["grantRole"] for g in granted_elsewhere}
        # `roles` after a refresh: every live membership, so a GrantRole shape diffs on every refresh
        assert set(refreshed["roles"]) == live
        assert (set(refreshed["roles"]) != declared) == bool(granted_elsewhere)


def test_deleting_a_schema_that_holds_tables_fails_and_drops_nothing(layout: Layout) -> None:
    schema = layout.resource(PG_SCHEMA, name="madansara")
    with layout.superuser() as connection:
        before = connection.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'madansara'").fetchone()
        with pytest.raises(errors.DependentObjectsStillExist):
            layout.apply(delete_steps(schema, layout.context()))
        after = connection.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'madansara'").fetchone()
        owner = connection.execute("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'madansara'")
        assert before == after and before is not None and before[0] >= 2
        assert owner.fetchone() == ("madansara_user",)


def test_deleting_the_role_that_owns_a_schema_fails_and_changes_nothing(layout: Layout) -> None:
    role = layout.resource(PG_ROLE, name="madansara_user")
    assert unwrap_secrets(role.inputs)["skipReassignOwned"] is True
    with pytest.raises(errors.DependentObjectsStillExist):
        layout.apply(delete_steps(role, layout.context()))
    with layout.superuser() as connection:
        assert connection.execute("SELECT 1 FROM pg_roles WHERE rolname = 'madansara_user'").fetchone() == (1,)


def test_a_new_schema_and_group_are_created_granted_and_deleted_cleanly(layout: Layout) -> None:
    ctx = server_context(plan_of(layout.capture), "main")
    owner = dataclasses.replace(
        layout.resource(PG_ROLE, name="madansara_read"), urn="urn:scratch-role", name="scratch-role",
        inputs={"name": "scratch_owner"},
    )  # fmt: skip
    schema = dataclasses.replace(
        layout.resource(PG_SCHEMA, name="madansara"), urn="urn:scratch-schema", name="scratch-schema",
        inputs={"name": "scratch", "owner": "scratch_owner", "database": "engarde"},
    )  # fmt: skip
    usage = dataclasses.replace(
        layout.resource(PG_GRANT, role="madansara_read", objectType="schema"), urn="urn:scratch-grant",
        name="scratch-grant", inputs={"role": "onside_read", "database": "engarde", "schema": "scratch",
                                      "objectType": "schema", "privileges": ["USAGE"]},
    )  # fmt: skip
    ctx = dataclasses.replace(ctx, schema_owners={**ctx.schema_owners, ("engarde", "scratch"): "scratch_owner"})
    layout.apply([*create_steps(owner, ctx), *create_steps(schema, ctx), *create_steps(usage, ctx)])
    with layout.superuser() as connection:
        assert connection.execute("SELECT has_schema_privilege('onside_read', 'scratch', 'USAGE')").fetchone() == (
            True,
        )
    layout.apply([*delete_steps(usage, ctx), *delete_steps(schema, ctx), *delete_steps(owner, ctx)])
    with layout.superuser() as connection:
        assert connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'scratch'").fetchone() is None
        assert connection.execute("SELECT 1 FROM pg_roles WHERE rolname = 'scratch_owner'").fetchone() is None


def test_a_grant_update_replaces_its_privileges_on_every_table(layout: Layout) -> None:
    grant = layout.resource(PG_GRANT, role="madansara_read", objectType="table")
    wider = dataclasses.replace(grant, inputs={**grant.inputs, "privileges": ["SELECT", "UPDATE"]})
    check = "SELECT has_table_privilege('madansara_read', 'madansara.t_before', 'UPDATE')"
    layout.apply(update_steps(grant, wider, layout.context()))
    with layout.superuser() as connection:
        assert connection.execute(check).fetchone() == (True,)
    layout.apply(update_steps(wider, grant, layout.context()))
    with layout.superuser() as connection:
        assert connection.execute(check).fetchone() == (False,)
        # a refresh reads every table's privileges as the grant declares them: no diff
        assert refreshed_inputs(grant, connection, layout.context()) == inputs_of(grant)


def test_mysql_password_update_and_grant_delete(scheduler: Deployment) -> None:
    server = scheduler.servers["scheduler"]
    ctx = server_context(plan_of(scheduler.capture), "scheduler")
    user = next(r for r in scheduler.capture.by_type(MYSQL_USER) if inputs_of(r)["user"] == "scheduler_user")
    grant = next(r for r in scheduler.capture.by_type(MYSQL_GRANT) if inputs_of(r)["user"] == "scheduler_user")
    rotated = dataclasses.replace(user, inputs={**user.inputs, "plaintextPassword": Secret("RotatedPassword2")})
    apply_mysql(server, update_steps(user, rotated, ctx))
    apply_mysql(server, delete_steps(grant, ctx))
    connection = pymysql.connect(host=server.host, port=server.port, user="scheduler_user", password="RotatedPassword2")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW DATABASES")
            assert {row[0] for row in cursor.fetchall()} == {"information_schema"}
    finally:
        connection.close()
    apply_mysql(server, create_steps(grant, ctx))
    root = mysql_admin(server)
    try:
        with root.cursor() as cursor:
            cursor.execute("SHOW GRANTS FOR 'scheduler_user'@'%'")
            assert any("ALL PRIVILEGES ON `easyappointments`" in row[0] for row in cursor.fetchall())
    finally:
        root.close()


SET_INPUTS = ("roles", "privileges", "objects")


def test_a_refresh_right_after_the_create_reads_back_what_the_stack_declares(layout: Layout) -> None:
    """Every resource's Read (review.providers.refresh) against the fresh layout: no input changes, except a
    Role's `roles` when GrantRole resources add memberships (the documented flip)."""
    ctx = layout.context()
    memberships_from_grant_roles = {unwrap_secrets(g.inputs)["role"] for g in layout.capture.by_type(PG_GRANT_ROLE)}
    read = 0
    with layout.superuser() as connection:
        for resource in layout.capture.resources:
            if not resource.type.startswith(POSTGRESQL_PREFIX) or server_of(layout.capture, resource) != "main":
                continue
            declared = inputs_of(resource)
            refreshed = refreshed_inputs(resource, connection, ctx)
            assert refreshed is not None, resource.name
            changed = {
                key
                for key, value in refreshed.items()
                if (set(unwrap_secrets(value)) != set(unwrap_secrets(declared[key])) if key in SET_INPUTS
                    else unwrap_secrets(value) != unwrap_secrets(declared[key]))
            }  # fmt: skip
            flips = resource.type == PG_ROLE and unwrap_secrets(declared["name"]) in memberships_from_grant_roles
            assert changed == ({"roles"} if flips else set()), resource.name
            read += 1
    assert read >= 60
