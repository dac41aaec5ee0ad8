"""Day 2 through the real engine: one stack, changed step after step as a platform team would.

Each step is a `pulumi up` (Automation API) of a new config or program on the stack the previous
step left. The statements each server logged during it equal what `review diff --format sql`
renders for the same change (the model run with the server as the provider finds it), and every
access-matrix cell holds afterwards. The tests run in file order: each starts where the last ended.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pulumi import automation as auto

from review.capture.plan import Plan
from review.capture.program import Capture
from review.diff.command import capture_urn
from review.diff.compute import diff_captures
from review.diff.refresh import refreshed
from review.diff.sql import ProviderLifecycle
from review.diff.views import DiffReport, build_report, sql_steps_of
from review.providers import SecretStyle, ServerContext
from tests.e2e.conftest import STACK, Deployed, deployed_stack, engine_urns, program_capture
from tests.e2e.engine import Recorder
from tests.e2e.statements import log_window, unit_differences, units_of_log, units_of_model
from tests.graph import ROLE
from tests.realdb.access_probes import cell_count, matrix_mismatches
from tests.realdb.conftest import POSTGRES, Servers, admin, external_config, live_server_context, service_dsns
from tests.realdb.test_day2 import BILLING, PASSWORD_URN, expected_cells
from topology import load_topology
from topology.sql import quote_ident

LAYOUT_FILE = "topology/layout.py"
SERVICE_PATH = 'path = ("public",) if app.schema == "public" else (app.schema, "public")'
SERVICE_PATH_WITHOUT_PUBLIC = 'path = ("public",) if app.schema == "public" else (app.schema,)'


LIVE_FACTS = ("memberships", "admin_member_of", "table_owners", "existing_schemas")
"""What a provider reads from the server as it runs (review/providers/refresh.py live_context)."""


class LiveLifecycle(ProviderLifecycle):
    """`review diff`'s model (secrets shown), with what each server holds, read before the `up`."""

    def __init__(self, live: Mapping[str, ServerContext]) -> None:
        super().__init__(SecretStyle.VALUES)
        self.live = live

    def context(self, plan: Plan, server: str) -> ServerContext:
        declared = super().context(plan, server)
        if server not in self.live:
            return declared
        return dataclasses.replace(declared, **{fact: getattr(self.live[server], fact) for fact in LIVE_FACTS})


@dataclass
class Step:
    """One day-2 step: what the model renders for it and what the engine and the servers did."""

    report: DiffReport
    recorder: Recorder
    differences: dict[str, list[str]]
    """Per server: units run but not modelled, and modelled but not run (empty: the model is exact)."""
    error: auto.CommandError | None = None
    """Why the `up` failed, if it did."""

    def state(self) -> Capture:
        """The stack's state after the `up`: the deployed capture with each step the engine finished
        taken from the new one (for a failed `up`, what it did before it stopped)."""
        ops = {s.urn: s.op for s in self.recorder.steps}
        finished = set(self.recorder.done)
        old, new = self.report.diff.old.capture, self.report.diff.new.capture
        old_urns, new_urns = engine_urns(old), engine_urns(new)
        new_by_urn = new.by_urn()
        resources = []
        for resource in old.resources:
            op = ops.get(old_urns[resource.urn]) if old_urns[resource.urn] in finished else None
            if op == "delete":
                continue
            resources.append(new_by_urn[resource.urn] if op == "update" else resource)
        resources += [r for r in new.resources if new_urns[r.urn] in finished and ops.get(new_urns[r.urn]) == "create"]
        return dataclasses.replace(old, resources=resources)


def _contexts(deployed: Deployed) -> dict[str, ServerContext]:
    return {
        name: live_server_context(deployed.capture, deployed.topology, deployed.servers[name], name)
        for name in POSTGRES
    }


def step(
    deployed: Deployed,
    new: Capture,
    replace: tuple[str, ...] = (),
    old: Capture | None = None,
    **up_options: Any,
) -> Step:
    """`pulumi up` to the program `new` captures (replacing engine URNs `replace`), logged and modelled."""
    lifecycle = LiveLifecycle(_contexts(deployed))
    mock_replace = tuple(capture_urn(urn) for urn in replace)
    diff = diff_captures(Plan(old or deployed.capture), Plan(new), lifecycle, mock_replace)
    report = build_report(STACK, "the deployed stack", diff, lifecycle)
    recorder, error = Recorder(), None
    with log_window(deployed.bootstrap("main")) as main, log_window(deployed.bootstrap("flowdb")) as flowdb:
        try:
            deployed.up(replace=list(replace), recorder=recorder, **up_options)
        except auto.CommandError as failure:
            error = failure
    logs = {"main": main, "flowdb": flowdb}
    differences = {}
    for name in POSTGRES:
        database = deployed.topology.servers[name].database
        logged = units_of_log(logs[name], deployed.servers[name].admin_user)
        modelled = [unit for _, unit in units_of_model(sql_steps_of(report, name), database)]
        differences[name] = unit_differences(logged, modelled)
    deployed.capture = new
    return Step(report, recorder, differences, error)


def engine_changes(report: DiffReport, recorder: Recorder) -> set[str]:
    """URNs (mocks' form) the engine changed, the engine's own left out."""
    by_engine_urn = {
        engine: mock
        for capture in (report.diff.old.capture, report.diff.new.capture)
        for mock, engine in engine_urns(capture).items()
    }
    return {by_engine_urn[s.urn] for s in recorder.changes() if s.urn in by_engine_urn}


def modelled_changes(report: DiffReport) -> set[str]:
    return {s.urn for s in report.diff.steps}


def assert_every_cell(deployed: Deployed, report: DiffReport) -> None:
    real = deployed.with_real_outputs()
    assert cell_count(real) >= 30
    assert matrix_mismatches(real, deployed.servers, expected_cells(report)) == []


def create_tables(deployed: Deployed, schema: str, owner: str) -> None:
    """The tables a migration makes in a schema, as its owner (the probes' t_before and t_after)."""
    with admin(deployed.bootstrap("main"), "engarde") as connection, connection.transaction():
        connection.execute(f"SET LOCAL ROLE {quote_ident(owner)}")
        for table in ("t_before", "t_after"):
            connection.execute(
                f"CREATE TABLE {quote_ident(schema)}.{quote_ident(table)} (id serial PRIMARY KEY, v text)"
            )


@pytest.fixture(scope="module")
def day2(engine_servers: Servers) -> Iterator[Deployed]:
    """The dev layout up on fresh servers, with tables in every schema."""
    with deployed_stack(engine_servers) as deployed:
        deployed.up()
        for schema in deployed.topology.schemas:
            with admin(deployed.bootstrap(schema.server), schema.database) as connection, connection.transaction():
                connection.execute(f"SET LOCAL ROLE {quote_ident(schema.owner)}")
                for table in ("t_before", "t_after"):
                    name = f"{quote_ident(schema.name)}.{quote_ident(table)}"
                    connection.execute(f"CREATE TABLE IF NOT EXISTS {name} (id serial PRIMARY KEY, v text)")
        yield deployed


def reconfigured(deployed: Deployed, **overrides: Any) -> Capture:
    """The stack set to a new config (as `pulumi config set`); what the program registers for it."""
    deployed.config = external_config(deployed.servers, **overrides)
    deployed.topology = load_topology(deployed.config, STACK)
    deployed.engine.configure(deployed.config)
    return program_capture(deployed.config)


def test_rotating_a_password_as_the_readme_says(day2: Deployed) -> None:
    old_dsn = service_dsns(day2.with_real_outputs(), day2.servers)[("main", "madansara_user")]
    done = step(day2, program_capture(day2.config, replaced=(capture_urn(PASSWORD_URN),)), replace=(PASSWORD_URN,))
    assert done.differences == {"main": [], "flowdb": []}
    assert engine_changes(done.report, done.recorder) == modelled_changes(done.report)
    new_dsn = service_dsns(day2.with_real_outputs(), day2.servers)[("main", "madansara_user")]
    assert new_dsn != old_dsn
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(old_dsn).close()
    assert_every_cell(day2, done.report)
    # The mocks fabricate a replaced password anew, the engine keeps the rotated one: the next
    # steps diff from the program's capture, whose passwords the later captures share.
    day2.capture = program_capture(day2.config)


def test_adding_a_service(day2: Deployed) -> None:
    done = step(day2, reconfigured(day2, services={"billing": BILLING}))
    assert done.differences == {"main": [], "flowdb": []}
    assert engine_changes(done.report, done.recorder) == modelled_changes(done.report)
    create_tables(day2, "billing", "billing_user")
    cells = expected_cells(done.report)
    assert cells[("main", "billing", "billing_user")] == "owner"
    assert cells[("main", "madansara", "billing_user")] == "read"
    assert_every_cell(day2, done.report)


def test_changing_a_services_reads_keeps_every_membership(day2: Deployed) -> None:
    done = step(day2, reconfigured(day2, services={"billing": {**BILLING, "reads": ["capilytics"]}}))
    assert done.differences == {"main": [], "flowdb": []}
    assert engine_changes(done.report, done.recorder) == modelled_changes(done.report)
    cells = expected_cells(done.report)
    assert cells.get(("main", "madansara", "billing_user")) is None
    assert cells[("main", "capilytics", "billing_user")] == "read"
    assert_every_cell(day2, done.report)


def test_a_grant_revoked_by_hand_comes_back_with_up_refresh(day2: Deployed) -> None:
    with admin(day2.bootstrap("main"), "engarde") as connection:
        # Readers hold it through the schema's read group.
        connection.execute("REVOKE SELECT ON ALL TABLES IN SCHEMA madansara FROM madansara_read")
    connections = {name: admin(day2.servers[name], day2.topology.servers[name].database) for name in POSTGRES}
    try:
        state = refreshed(Plan(day2.capture), connections)
    finally:
        for connection in connections.values():
            connection.close()
    done = step(day2, day2.capture, old=state, refresh=True)  # `up --refresh`: the refresh's reads are set apart
    assert done.differences == {"main": [], "flowdb": []}
    assert modelled_changes(done.report), "the refresh found the revoked grant"
    assert_every_cell(day2, done.report)


def _schema_tables(deployed: Deployed, schema: str) -> list[tuple[str, str]]:
    with admin(deployed.bootstrap("main"), "engarde") as connection:
        return [
            (str(name), str(owner))
            for name, owner in connection.execute(
                "SELECT relname, pg_get_userbyid(relowner) FROM pg_class"
                " WHERE relnamespace = %s::regnamespace AND relkind = 'r' ORDER BY 1",
                (schema,),
            ).fetchall()
        ]


def test_removing_a_service_whose_schema_holds_tables_fails_and_drops_nothing(day2: Deployed) -> None:
    with admin(day2.bootstrap("main"), "engarde") as connection:
        connection.execute("INSERT INTO billing.t_before (v) VALUES ('invoice')")
    deployed = day2.capture
    done = step(day2, reconfigured(day2))
    assert done.error is not None
    assert "cannot drop schema billing because other objects depend on it" in str(done.error)
    # The engine stops at the failed delete: what it ran before is what the model renders.
    assert [line for line in done.differences["main"] if line.startswith("ran, not modelled")] == []
    assert done.differences["flowdb"] == []
    assert _schema_tables(day2, "billing") == [("t_after", "billing_user"), ("t_before", "billing_user")]
    with admin(day2.bootstrap("main"), "engarde") as connection:
        assert connection.execute("SELECT v FROM billing.t_before").fetchall() == [("invoice",)]
        assert connection.execute("SELECT 1 FROM pg_roles WHERE rolname = 'billing_user'").fetchone() == (1,)
    day2.capture = done.state()
    assert len(day2.capture.resources) < len(deployed.resources), "the billing grants went first"


def test_removing_a_service_with_an_empty_schema_drops_it(day2: Deployed) -> None:
    with admin(day2.bootstrap("main"), "engarde") as connection:
        connection.execute("DROP TABLE billing.t_before, billing.t_after")
    done = step(day2, program_capture(day2.config))
    assert done.error is None
    assert done.differences == {"main": [], "flowdb": []}
    with admin(day2.bootstrap("main"), "engarde") as connection:
        assert connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'billing'").fetchone() is None
        assert connection.execute("SELECT 1 FROM pg_roles WHERE rolname LIKE 'billing%'").fetchone() is None
    assert_every_cell(day2, done.report)


def _without_public(capture: Capture) -> Capture:
    """The capture as the program registers it with services' search_path `<schema>` alone."""
    resources = []
    for resource in capture.resources:
        paths = resource.inputs.get("searchPaths")
        if resource.type == ROLE and isinstance(paths, list) and len(paths) == 2 and paths[1] == "public":
            resource = dataclasses.replace(resource, inputs={**resource.inputs, "searchPaths": paths[:1]})
        resources.append(resource)
    return dataclasses.replace(capture, resources=resources, outputs=copy.deepcopy(capture.outputs))


def test_changing_a_search_path_in_the_program(day2: Deployed) -> None:
    layout = day2.engine.program_dir / LAYOUT_FILE
    source = layout.read_text()
    assert source.count(SERVICE_PATH) == 1
    layout.write_text(source.replace(SERVICE_PATH, SERVICE_PATH_WITHOUT_PUBLIC))
    done = step(day2, _without_public(day2.capture))
    assert done.differences == {"main": [], "flowdb": []}
    assert {s.name for s in done.report.diff.steps if s.op == "update"} >= {"main-madansara_user"}
    dsn = conninfo_to_dict(service_dsns(day2.with_real_outputs(), day2.servers)[("main", "madansara_user")])
    without_options = make_conninfo(**{k: v for k, v in dsn.items() if k != "options"})  # type: ignore[arg-type]
    with psycopg.connect(without_options) as connection:
        assert connection.execute("SHOW search_path").fetchone() == ("madansara",)
    assert_every_cell(day2, done.report)
