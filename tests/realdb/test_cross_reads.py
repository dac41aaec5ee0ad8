"""crossDatabaseReads on every PostgreSQL version of the selection: the stack's steps on two fresh
servers, a Langflow-like table made by `langflow_app` on flowdb (Langflow's own migrations run in
tests/realdb/test_langflow.py, on PostgreSQL 15), read on main by the analytics reader only.

With an admin that is not a superuser (managed servers) the stack refuses the key before any
resource exists: postgres_fdw cannot be created by any other role.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors

from review.audit.checks import audit_servers
from tests.realdb.conftest import Deployment, Servers, deploy, external_config, postgres_for
from topology.catalog import ANALYTICS, REMOTE_SCHEMA
from topology.layout import load_topology
from topology.names import ConfigError

REFRESH = f"SELECT {REMOTE_SCHEMA}.refresh_foreign_tables()"


@pytest.fixture(scope="module")
def fdw_servers(servers: Servers) -> Iterator[Servers]:
    with postgres_for(servers.combination, "fdw-main") as main, postgres_for(servers.combination, "fdw-flowdb") as flow:
        yield Servers(
            main=main[0],
            flowdb=flow[0],
            scheduler=None,
            combination=servers.combination,
            superusers={"main": main[1], "flowdb": flow[1]},
        )


@pytest.fixture(scope="module")
def fdw(fdw_servers: Servers) -> Deployment:
    if fdw_servers.combination.kind != "superuser":
        pytest.fail("only a superuser admin deploys crossDatabaseReads (select the superuser admin kind)")
    deployment = deploy(fdw_servers, apply_to=("main", "flowdb"), crossDatabaseReads=True)
    with psycopg.connect(fdw_servers.flowdb.dsn("langflow"), autocommit=True) as connection:
        connection.execute("SET ROLE langflow_app")
        connection.execute("CREATE TYPE flow_kind AS ENUM ('chat', 'agent')")
        connection.execute("CREATE TABLE flow (id uuid PRIMARY KEY, name varchar NOT NULL, kind flow_kind)")
        connection.execute("INSERT INTO flow VALUES (gen_random_uuid(), 'triage', 'agent')")
    with psycopg.connect(fdw_servers.main.dsn("engarde"), autocommit=True) as connection:
        connection.execute("SET ROLE madansara_user")
        connection.execute("CREATE TABLE madansara.flow_runs (flow_name text, runs int)")
        connection.execute("INSERT INTO madansara.flow_runs VALUES ('triage', 2)")
    return deployment


def test_the_key_builds_with_a_superuser_admin_and_a_managed_one_is_refused_before_any_resource(
    fdw_servers: Servers,
) -> None:
    if fdw_servers.combination.kind == "superuser":
        assert load_topology(external_config(fdw_servers, crossDatabaseReads=True), "dev").cross_database_reads
        return
    with pytest.raises(ConfigError, match="superuser") as error:
        load_topology(external_config(fdw_servers, crossDatabaseReads=True), "dev")
    assert error.value.key == "crossDatabaseReads"


@pytest.mark.admin_kind_independent  # the superuser admin of each version: the managed one is refused above
def test_analytics_joins_main_with_flowdb_after_a_refresh(fdw_servers: Servers, fdw: Deployment) -> None:
    deployment = fdw
    with psycopg.connect(fdw_servers.flowdb.dsn("langflow")) as connection:
        tables = connection.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    with deployment.connect("main", ANALYTICS, autocommit=True) as connection:
        with pytest.raises(errors.UndefinedTable):
            connection.execute(f"SELECT * FROM {REMOTE_SCHEMA}.flow")
        assert connection.execute(REFRESH).fetchone() == tables  # one foreign table per table of flowdb's public
        rows = connection.execute(
            f"SELECT f.name, f.kind, r.runs FROM {REMOTE_SCHEMA}.flow f"
            " JOIN madansara.flow_runs r ON r.flow_name = f.name"
        ).fetchall()
        assert rows == [("triage", "agent", 2)]
        with pytest.raises(errors.InsufficientPrivilege):
            connection.execute(f"UPDATE {REMOTE_SCHEMA}.flow SET name = 'x'")
    with (
        deployment.connect("main", "engarde_app", autocommit=True) as connection,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        connection.execute(f"SELECT * FROM {REMOTE_SCHEMA}.flow")
    dsns = {"main": fdw_servers.main.dsn("engarde"), "flowdb": fdw_servers.flowdb.dsn("langflow")}
    assert audit_servers(deployment.topology, dsns) == []
