"""`pulumi preview` and `pulumi up` from nothing, through the real engine and providers.

Every server chains its schemas and grants (components/ordering.py), so the `up` is one part, as a
service's first deploy meets it: the whole layout, then tables made by the schemas' owners (`t_before`,
`t_after`), which the default privileges cover.
The statements each part sent to a PostgreSQL server are compared with the model's create steps for
the resources the engine created in it, on the server as the provider found it. The scheduler's
resources go up too, on MariaDB 10.5 (the host's 10.11 fails them: the last test).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pymysql  # type: ignore[import-untyped, unused-ignore]
import pytest
from psycopg.conninfo import conninfo_to_dict
from pulumi import automation as auto

from review.audit.checks import audit_servers
from review.capture.program import Resource, unwrap_secrets
from review.providers import ServerContext, create_steps
from tests.components.urns import EngineUrns, nodes_of
from tests.e2e.conftest import Deployed, deployed_stack
from tests.e2e.engine import EngineStep, Recorder
from tests.e2e.mariadb import server_version
from tests.e2e.statements import Logged, log_window, unit_differences, units_of_log, units_of_model
from tests.graph import server_of
from tests.realdb.access_probes import declared_matrix, matrix_mismatches
from tests.realdb.conftest import (
    POSTGRES,
    Deployment,
    Servers,
    create_tables_as_owners,
    live_server_context,
    service_dsns,
)
from tests.realdb.servers import mariadb_server

STACK_TYPE = "pulumi:pulumi:Stack"
Part = tuple[Recorder, dict[str, ServerContext], dict[str, list[Logged]]]
"""One part of the `up`: its steps, each server's context before it, what each server logged."""


@dataclass
class Created:
    """The stack deployed from nothing, with what the engine and the servers saw on the way."""

    deployed: Deployed
    preview: Recorder
    parts: list[Part] = field(default_factory=list)


def _contexts(deployed: Deployed) -> dict[str, ServerContext]:
    return {
        name: live_server_context(deployed.capture, deployed.topology, deployed.servers[name], name)
        for name in POSTGRES
    }


def _logged_up(
    deployed: Deployed, **options: object
) -> tuple[Recorder, dict[str, ServerContext], dict[str, list[Logged]]]:
    contexts = _contexts(deployed)
    with log_window(deployed.bootstrap("main")) as main, log_window(deployed.bootstrap("flowdb")) as flowdb:
        recorder = deployed.up(**options)  # type: ignore[arg-type]
    return recorder, contexts, {"main": main, "flowdb": flowdb}


def _as_deployment(deployed: Deployed) -> Deployment:
    capture = deployed.with_real_outputs()
    return Deployment(capture, deployed.topology, deployed.servers, [], service_dsns(capture, deployed.servers))


@pytest.fixture(scope="module")
def created(engine_servers: Servers) -> Iterator[Created]:
    with deployed_stack(engine_servers) as deployed:
        preview = Recorder()
        deployed.engine.stack.preview(on_event=preview)
        result = Created(deployed, preview)
        # Every server runs its schemas and grants as one chain (components/ordering.py): no schema exists
        # before the grants ahead of it, so the tables come after the one `up`.
        result.parts.append(_logged_up(deployed))
        create_tables_as_owners(_as_deployment(deployed), "t_before")
        create_tables_as_owners(_as_deployment(deployed), "t_after")
        yield result


def _program_registers(step: EngineStep) -> bool:
    """Whether the program registers it: not the stack, nor a default provider (the engine makes those)."""
    default_provider = step.type.startswith("pulumi:providers:") and step.urn.rsplit("::", 1)[1].startswith("default")
    return step.type != STACK_TYPE and not default_provider


def _engine_view(created: Created) -> tuple[set[tuple[str, str, str | None]], set[tuple[str, str, str | None]]]:
    """(URN, type, parent URN) of each resource: as the preview planned it, as the capture implies it."""
    nodes = nodes_of(created.deployed.capture)
    by_urn = {node.urn: node for node in nodes}
    urns = EngineUrns(nodes)
    captured = {
        (urns.urn(node), node.type, urns.urn(by_urn[node.parent]) if node.parent in by_urn else None) for node in nodes
    }
    stack_urns = {step.urn for step in created.preview.steps if step.type == STACK_TYPE}
    previewed = {
        (step.urn, step.type, None if step.parent in stack_urns else step.parent)
        for step in created.preview.steps
        if _program_registers(step)
    }
    return previewed, captured


def test_preview_from_nothing_lists_the_resources_review_plan_captures(created: Created) -> None:
    previewed, captured = _engine_view(created)
    assert {step.op for step in created.preview.steps} == {"create"}
    assert previewed - captured == set(), "the engine plans resources `review plan` does not show"
    assert captured - previewed == set(), "`review plan` shows resources the engine does not plan"
    assert len(previewed) == len(created.deployed.capture.resources)


def test_up_creates_every_resource_the_mysql_ones_too(created: Created) -> None:
    deployed = created.deployed
    made = {
        step.urn
        for recorder, _, _ in created.parts
        for step in recorder.steps
        if step.op == "create" and _program_registers(step)
    }
    assert deployed.mysql_urns(), "the scheduler's database, users and grants"
    assert made == {deployed.engine_urn(r) for r in deployed.capture.resources}


def _modelled(created: Created, server: str) -> list[tuple[Resource, tuple[str, tuple[str, ...]]]]:
    """The model's units for what each part of the `up` created on `server`, part after part."""
    deployed = created.deployed
    database = deployed.topology.servers[server].database
    units = []
    for recorder, contexts, _logs in created.parts:
        made = recorder.urns("create")
        for resource in deployed.capture.resources:
            if deployed.engine_urn(resource) in made and server_of(deployed.capture, resource) == server:
                units += [
                    (resource, unit) for _, unit in units_of_model(create_steps(resource, contexts[server]), database)
                ]
    return units


@pytest.mark.parametrize("server", POSTGRES)
def test_up_sends_the_statements_review_plan_renders(created: Created, server: str) -> None:
    admin = created.deployed.servers[server].admin_user
    logged = [unit for _, _, logs in created.parts for unit in units_of_log(logs[server], admin)]
    modelled = [unit for _, unit in _modelled(created, server)]
    assert unit_differences(logged, modelled) == []


@pytest.mark.parametrize("server", POSTGRES)
def test_up_runs_each_resource_after_what_it_depends_on(created: Created, server: str) -> None:
    admin = created.deployed.servers[server].admin_user
    first_run: dict[tuple[str, tuple[str, ...]], int] = {}
    for position, unit in enumerate(u for _, _, logs in created.parts for u in units_of_log(logs[server], admin)):
        first_run.setdefault(unit, position)
    positions: dict[str, list[int]] = {}
    for resource, unit in _modelled(created, server):
        positions.setdefault(resource.urn, []).append(first_run[unit])
    by_urn = created.deployed.capture.by_urn()
    late = [
        f"{by_urn[urn].name} ran before {by_urn[dependency].name}"
        for urn, ran in positions.items()
        for dependency in by_urn[urn].depends_on
        if dependency in positions and max(positions[dependency]) > min(ran)
    ]
    assert late == []


def test_every_access_matrix_probe_holds(created: Created) -> None:
    capture = created.deployed.with_real_outputs()
    assert matrix_mismatches(capture, created.deployed.servers, declared_matrix(capture)) == []


def test_review_audit_finds_nothing(created: Created) -> None:
    servers = created.deployed.servers
    assert audit_servers(created.deployed.topology, {name: servers[name].dsn() for name in POSTGRES}) == []


def test_every_dsn_of_the_real_outputs_logs_in_as_its_role_in_its_schema(created: Created) -> None:
    deployed = created.deployed
    dsns = service_dsns(deployed.with_real_outputs(), deployed.servers)
    assert {role for _, role in dsns} >= {"engarde_app", "langflow_app", "analytics_readonly"}
    for (server, role_name), dsn in sorted(dsns.items()):
        role = deployed.topology.role(server, role_name)
        with psycopg.connect(dsn) as connection:
            user, schema = connection.execute("SELECT current_user, current_schema()").fetchone() or ("", "")
        assert user == role.name == conninfo_to_dict(dsn)["user"]
        if role.search_path:
            assert schema == role.search_path[0], (server, role_name)


def _mysql_login(host: str, port: str, user: str, password: str) -> Any:
    return pymysql.connect(host=host, port=int(port), user=user, password=password, autocommit=True)


def test_the_schedulers_env_logs_in_and_the_backup_user_reads_what_it_writes(created: Created) -> None:
    services = unwrap_secrets(created.deployed.with_real_outputs().outputs["services"])
    app, backup = services["egm-scheduler"]["env"], services["backup-scheduler"]["env"]
    database = app["DB_NAME"]
    host, port = app["DB_HOST"].rsplit(":", 1)
    with _mysql_login(host, port, app["DB_USERNAME"], app["DB_PASSWORD"]) as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE `{database}`.appointments (id int PRIMARY KEY)")
        cursor.execute(f"INSERT INTO `{database}`.appointments VALUES (1)")
    login = (backup[f"BACKUP_MYSQL_{key}"] for key in ("HOST", "PORT", "USER", "PASSWORD"))
    with _mysql_login(*login) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM `{database}`.appointments")
        assert cursor.fetchall() == ((1,),)
        with pytest.raises(pymysql.err.OperationalError, match="command denied"):
            cursor.execute(f"INSERT INTO `{database}`.appointments VALUES (2)")


def test_no_change_after_up_in_preview_or_refresh(created: Created) -> None:
    stack = created.deployed.engine.stack
    stack.preview(expect_no_changes=True)
    stack.refresh(expect_no_changes=True)


def test_the_mysql_provider_fails_on_mariadb_10_11_reading_innodb_version(engine_servers: Servers) -> None:
    """The host's MariaDB (Debian bookworm's 10.11) has no `@@GLOBAL.innodb_version`, which the provider reads
    before it creates a user or a grant. Only the scheduler's resources go up, to a server of their own."""
    with mariadb_server("e2e-mariadb-10-11") as mariadb:
        assert server_version(mariadb).startswith("10.11.")
        with deployed_stack(dataclasses.replace(engine_servers, scheduler=mariadb)) as deployed:
            capture = deployed.capture
            postgres = [deployed.engine_urn(r) for r in capture.resources if server_of(capture, r) in POSTGRES]
            with pytest.raises(auto.CommandError) as failure:
                deployed.up(excluding=postgres)
    assert "Unknown system variable 'innodb_version'" in str(failure.value)
