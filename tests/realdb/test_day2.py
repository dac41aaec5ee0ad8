"""Day 2 on real servers: each scenario starts from a deployed layout, applies exactly the SQL that
`review diff` renders for one change, in engine order, and then checks every access-matrix cell.

Expected cells are the new stack's declared `accessMatrix`, less the memberships the provider's
Role update revokes: `postgresql.Role` update revokes every membership of the role and grants back
only its own `roles` (resource_postgresql_role.go `revokeRoles` / `grantRoles`), so a membership
made by a separate `postgresql.GrantRole` is lost when its member role is updated.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from resource_types import DATABASE_ROLE, POSTGRES_SERVER, RANDOM_PASSWORD
from review.capture.plan import Plan
from review.capture.program import Capture, unwrap_secrets
from review.diff.command import capture_urn, report_of
from review.diff.compute import CREATE, CREATE_REPLACEMENT, DELETE, UPDATE
from review.diff.refresh import refreshed
from review.diff.views import DiffReport, sql_steps_of
from tests.conftest import cached_run_program
from tests.graph import GRANT_ROLE, ROLE
from tests.realdb.access_probes import Cell, cell_count, declared_matrix, matrix_mismatches
from tests.realdb.conftest import (
    POSTGRES,
    Deployment,
    Servers,
    _owners_only,
    admin,
    apply_all,
    apply_postgres,
    create_tables_as_owners,
    external_config,
    service_dsns,
)
from tests.realdb.servers import postgres_server
from topology import load_topology
from topology.sql import quote_ident

STACK = "dev"
BILLING = {"image": "ghcr.io/engardehq/billing:1.0.0", "reads": ["madansara"]}
PASSWORD_URN = (
    f"urn:pulumi:dev::engarde::{POSTGRES_SERVER}${DATABASE_ROLE}${RANDOM_PASSWORD}::main-madansara_user-password"
)


@pytest.fixture(scope="module")
def day2_servers(servers: Servers) -> Iterator[Servers]:
    """PostgreSQL servers of this module's own (the scenarios change them); the session's MariaDB."""
    with postgres_server("day2-main") as main, postgres_server("day2-flowdb") as flowdb:
        yield Servers(main=main, flowdb=flowdb, scheduler=servers.scheduler)


def _reset(servers: Servers) -> None:
    """Drop what a previous scenario deployed: the stack's databases and every role but the admin."""
    for name in POSTGRES:
        with admin(servers[name], "postgres") as connection:
            for database in ("engarde", "langflow"):
                connection.execute(f"DROP DATABASE IF EXISTS {quote_ident(database)} WITH (FORCE)")
            rows = connection.execute(
                "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> current_user"
            ).fetchall()
            for (role,) in rows:
                connection.execute(f"DROP ROLE {quote_ident(role)}")


def _captured(servers: Servers, overrides: dict[str, Any], replaced: tuple[str, ...] = ()) -> Capture:
    """The program run once per distinct config in the session (a second or more each)."""
    config = external_config(servers, **overrides)
    secret_keys = tuple(sorted(key for key in config if key.endswith("AdminPassword")))
    return cached_run_program(config, STACK, secret_keys=secret_keys, replaced=replaced)


def _deployed(servers: Servers, **overrides: Any) -> Deployment:
    """The stack's create steps applied once to fresh databases (as `conftest.deploy`, without its
    snapshot): owners first, tables a migration makes, every other step, tables made afterwards."""
    _reset(servers)
    config = external_config(servers, **overrides)
    topology = load_topology(config, STACK)
    for name in POSTGRES:
        with admin(servers[name], "postgres") as connection:
            connection.execute(f"CREATE DATABASE {quote_ident(topology.servers[name].database)}")
    capture = _captured(servers, overrides)
    deployment = Deployment(capture, topology, servers, [], service_dsns(capture, servers))
    apply_all(capture, topology, servers, only=_owners_only, apply_to=POSTGRES)
    create_tables_as_owners(deployment, "t_before")
    apply_all(capture, topology, servers, only=lambda step: not _owners_only(step), apply_to=POSTGRES)
    create_tables_as_owners(deployment, "t_after")
    return deployment


def _diff(servers: Servers, old: dict[str, Any], new: dict[str, Any], replace: tuple[str, ...] = ()) -> DiffReport:
    """What `review diff` renders (secrets shown, to apply) from config `old` to config `new`."""
    replaced = tuple(capture_urn(urn) for urn in replace)
    return report_of(_captured(servers, old), _captured(servers, new, replaced), STACK, replaced, True, "old config")


def _apply(report: DiffReport, servers: Servers) -> None:
    """Each server's SQL of the diff, in engine order."""
    for name in POSTGRES:
        steps = sql_steps_of(report, name)
        if steps:
            apply_postgres(servers[name], steps, _database(report.diff.new.capture, name))


def _database(capture: Capture, server: str) -> str:
    return str(unwrap_secrets(capture.outputs["servers"])[server]["databases"][0])


def _create_tables(capture: Capture, servers: Servers, schema: str, owner: str) -> None:
    """The tables a migration makes in a new schema, as its owner (t_before and t_after of the probes)."""
    with admin(servers.main, _database(capture, "main")) as connection, connection.transaction():
        connection.execute(f"SET LOCAL ROLE {quote_ident(owner)}")
        for table in ("t_before", "t_after"):
            connection.execute(
                f"CREATE TABLE {quote_ident(schema)}.{quote_ident(table)} (id serial PRIMARY KEY, v text)"
            )


def lost_memberships(report: DiffReport) -> set[tuple[str, str]]:
    """(group, member): GrantRole memberships of roles the diff updates that the diff does not grant again."""
    updated = {str(step.new.inputs["name"]) for step in report.diff.steps if step.op == UPDATE and step.type == ROLE}  # type: ignore[union-attr]
    regranted = {step.urn for step in report.diff.steps if step.op in (CREATE, CREATE_REPLACEMENT)}
    return {
        (str(r.inputs["grantRole"]), str(r.inputs["role"]))
        for r in report.diff.new.by_type(GRANT_ROLE)
        if str(r.inputs["role"]) in updated and r.urn not in regranted
    }


def expected_cells(report: DiffReport) -> dict[Cell, str | None]:
    """The declared matrix after the step, less the cells that came through a lost membership."""
    lost = lost_memberships(report)
    return {
        (server, schema, role): (None if (f"{schema}_{profile}", role) in lost else profile)
        for (server, schema, role), profile in declared_matrix(report.diff.new.capture).items()
    }


def _assert_every_cell(report: DiffReport, servers: Servers) -> None:
    assert cell_count(report.diff.new.capture) >= 30
    assert matrix_mismatches(report.diff.new.capture, servers, expected_cells(report)) == []


def _ops(report: DiffReport) -> list[tuple[str, str]]:
    return [(step.op, step.name) for step in report.diff.steps]


def test_rotating_one_password(day2_servers: Servers) -> None:
    deployment = _deployed(day2_servers)
    old_dsn = deployment.dsns[("main", "madansara_user")]
    report = _diff(day2_servers, {}, {}, replace=(PASSWORD_URN,))
    assert ("create-replacement", "main-madansara_user-password") in _ops(report)
    assert ("update", "main-madansara_user") in _ops(report)
    assert not [step for step in report.diff.steps if step.op == DELETE]
    _apply(report, day2_servers)
    new_dsn = service_dsns(report.diff.new.capture, day2_servers)[("main", "madansara_user")]
    assert new_dsn != old_dsn
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(old_dsn).close()
    with psycopg.connect(new_dsn) as connection:
        assert connection.execute("SELECT current_user").fetchone() == ("madansara_user",)
    _assert_every_cell(report, day2_servers)


def _with_search_path(capture: Capture, role: str, search_path: list[str]) -> Capture:
    resources = [
        dataclasses.replace(r, inputs={**r.inputs, "searchPaths": search_path})
        if r.type == ROLE and r.inputs.get("name") == role
        else r
        for r in capture.resources
    ]
    return dataclasses.replace(capture, resources=resources, outputs=copy.deepcopy(capture.outputs))


def test_changing_a_roles_search_path(day2_servers: Servers) -> None:
    # No config key changes an existing role's search_path (it derives from the role's own schema,
    # whose name is also the role's): the program's code does. The new side is the deployed program
    # with that one input changed, as a commit changing the code would register it.
    deployment = _deployed(day2_servers)
    changed = _with_search_path(deployment.capture, "madansara_user", ["madansara"])
    report = report_of(deployment.capture, changed, STACK, (), True, "the deployed program")
    assert [(step.op, step.name, step.changed) for step in report.diff.steps] == [
        ("update", "main-madansara_user", ("searchPaths",))
    ]
    _apply(report, day2_servers)
    dsn = conninfo_to_dict(deployment.dsns[("main", "madansara_user")])
    without_options = make_conninfo(**{k: v for k, v in dsn.items() if k != "options"})  # type: ignore[arg-type]
    with psycopg.connect(without_options) as connection:
        assert connection.execute("SHOW search_path").fetchone() == ("madansara",)
    _assert_every_cell(report, day2_servers)


def test_adding_a_service(day2_servers: Servers) -> None:
    _deployed(day2_servers)
    report = _diff(day2_servers, {}, {"services": {"billing": BILLING}})
    assert ("create", "main-billing_user") in _ops(report)
    assert not [step for step in report.diff.steps if step.op == DELETE]
    _apply(report, day2_servers)
    _create_tables(report.diff.new.capture, day2_servers, "billing", "billing_user")
    cells = expected_cells(report)
    assert cells[("main", "billing", "billing_user")] == "owner"
    assert cells[("main", "madansara", "billing_user")] == "read"
    assert cells[("main", "billing", "analytics_readonly")] == "read"
    _assert_every_cell(report, day2_servers)


def _drop_tables(servers: Servers, schema: str) -> None:
    with admin(servers.main, "engarde") as connection:
        for table in ("t_before", "t_after"):
            connection.execute(f"DROP TABLE {quote_ident(schema)}.{quote_ident(table)}")


def _main_roles(servers: Servers) -> set[str]:
    with admin(servers.main, "engarde") as connection:
        return {str(row[0]) for row in connection.execute("SELECT rolname FROM pg_roles").fetchall()}


def test_removing_a_service_with_an_empty_schema(day2_servers: Servers) -> None:
    _deployed(day2_servers, services={"billing": BILLING})
    _drop_tables(day2_servers, "billing")
    report = _diff(day2_servers, {"services": {"billing": BILLING}}, {})
    assert ("delete", "main-billing") in _ops(report)
    assert ("delete", "main-billing_user") in _ops(report)
    _apply(report, day2_servers)
    with admin(day2_servers.main, "engarde") as connection:
        assert connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'billing'").fetchone() is None
    assert not {"billing_user", "billing_read"} & _main_roles(day2_servers)
    _assert_every_cell(report, day2_servers)


def test_removing_a_service_whose_schema_holds_tables_fails_and_keeps_everything(day2_servers: Servers) -> None:
    _deployed(day2_servers, services={"billing": BILLING})
    with admin(day2_servers.main, "engarde") as connection:
        connection.execute("INSERT INTO billing.t_before (v) VALUES ('invoice')")
    report = _diff(day2_servers, {"services": {"billing": BILLING}}, {})
    failed = None
    for _number, step, sql in report.steps_on("main"):
        try:
            apply_postgres(day2_servers.main, list(sql.steps), "engarde")
        except psycopg.errors.DependentObjectsStillExist:
            failed = step
            break  # `pulumi up` stops at the failed step
    assert failed is not None and (failed.op, failed.name) == ("delete", "main-billing")
    with admin(day2_servers.main, "engarde") as connection:
        owners = connection.execute(
            "SELECT relname, pg_get_userbyid(relowner) FROM pg_class"
            " WHERE relnamespace = 'billing'::regnamespace AND relkind = 'r' ORDER BY 1"
        ).fetchall()
        assert owners == [("t_after", "billing_user"), ("t_before", "billing_user")]
        assert connection.execute("SELECT v FROM billing.t_before").fetchall() == [("invoice",)]
    assert "billing_user" in _main_roles(day2_servers)
    # The role's own delete would fail as well: it owns the tables (skip_reassign_owned, nothing reassigned).
    role_delete = next(sql for _n, step, sql in report.steps_on("main") if step.name == "main-billing_user")
    with pytest.raises(psycopg.errors.DependentObjectsStillExist):
        apply_postgres(day2_servers.main, list(role_delete.steps), "engarde")
    assert "billing_user" in _main_roles(day2_servers)
    # What the program still declares holds, though `up` stopped halfway.
    _assert_every_cell(report, day2_servers)


def test_changing_a_services_reads(day2_servers: Servers) -> None:
    _deployed(day2_servers, services={"billing": BILLING})
    moved = {"billing": {**BILLING, "reads": ["capilytics"]}}
    report = _diff(day2_servers, {"services": {"billing": BILLING}}, {"services": moved})
    assert report.diff.changed
    _apply(report, day2_servers)
    cells = expected_cells(report)
    assert cells.get(("main", "madansara", "billing_user")) is None
    assert cells[("main", "capilytics", "billing_user")] == "read"
    _assert_every_cell(report, day2_servers)


def _refresh(deployment: Deployment, servers: Servers) -> Capture:
    connections = {name: admin(servers[name], _database(deployment.capture, name)) for name in POSTGRES}
    try:
        return refreshed(Plan(deployment.capture), connections)
    finally:
        for connection in connections.values():
            connection.close()


def _memberships_outside_roles(capture: Capture) -> set[str]:
    """Roles holding a membership their own `roles` input does not list (granted by a GrantRole)."""
    own = {str(r.inputs["name"]): set(r.inputs.get("roles") or []) for r in capture.by_type(ROLE)}
    return {
        str(r.inputs["role"])
        for r in capture.by_type(GRANT_ROLE)
        if str(r.inputs["grantRole"]) not in own.get(str(r.inputs["role"]), set())
    }


def test_refresh_then_reapply_without_change_runs_no_sql(day2_servers: Servers) -> None:
    deployment = _deployed(day2_servers)
    state = _refresh(deployment, day2_servers)
    report = report_of(state, deployment.capture, STACK, (), True, "the refreshed state")
    # Refresh reads every live membership into a role's `roles`: a role whose memberships come
    # from GrantRole differs from the program, and its update revokes them (the flip).
    flipping = _memberships_outside_roles(deployment.capture)
    assert {str(step.new.inputs["name"]) for step in report.diff.steps if step.new is not None} == flipping
    assert {step.op for step in report.diff.steps} <= {UPDATE}
    if not flipping:
        assert report.steps_on(None) == []
    # Re-apply: whatever the refresh made the next `up` run, then every cell.
    _apply(report, day2_servers)
    _assert_every_cell(report, day2_servers)
