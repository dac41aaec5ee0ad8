"""Debian's prometheus-postgres-exporter against the real servers, with the DSN and the custom queries the
stack hands each `postgres-exporter*` service."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import errors

from review.capture.program import unwrap_secrets
from tests.realdb.conftest import Deployment, admin
from tests.realdb.exporter import run_exporter, scrape, value
from topology.monitoring import EXPORTER_QUERIES_PATH
from topology.sql import quote_ident

# The exporter's queries read catalog views every supported version has: the first combination runs them.
pytestmark = pytest.mark.postgres_independent


@contextlib.contextmanager
def exporter(deployment: Deployment, service: str, directory: Path) -> Iterator[str]:
    """The exporter with the service's env: DATA_SOURCE_NAME, and its queries file at the path the env names."""
    spec = next(s for s in deployment.topology.services if s.name == service)
    env: dict[str, str] = unwrap_secrets(deployment.capture.outputs["services"])[service]["env"]
    assert env["PG_EXPORTER_EXTEND_QUERY_PATH"] == EXPORTER_QUERIES_PATH
    with run_exporter(env["DATA_SOURCE_NAME"], spec.files[EXPORTER_QUERIES_PATH], directory, service) as url:
        yield url


def test_main_exporter_reports_up_connections_per_role_and_schema_sizes(deployed: Deployment, tmp_path: Path) -> None:
    with admin(deployed.servers.main, "engarde") as connection, connection.transaction():
        connection.execute("SET LOCAL ROLE madansara_user")
        connection.execute("CREATE TABLE madansara.sized (v text)")
        connection.execute("INSERT INTO madansara.sized SELECT repeat('x', 100) FROM generate_series(1, 20000)")
    held = [deployed.connect("main", "madansara_user") for _ in range(3)]
    try:
        with exporter(deployed, "postgres-exporter", tmp_path) as url:
            metrics = scrape(url)
    finally:
        for connection in held:
            connection.close()
    assert value(metrics, "pg_up") == 1
    assert value(metrics, "engarde_role_connections_in_use", role="madansara_user") == 3
    assert value(metrics, "engarde_role_connections_in_use", role="sankore_user") == 0
    assert value(metrics, "engarde_role_connections_in_use", role="engarde_monitor") >= 1
    assert value(metrics, "engarde_role_connections_limit", role="madansara_user") in (-1, 15)
    roles = {text for text in metrics["engarde_role_connections_in_use"]}
    assert len(roles) == len(deployed.topology.layouts["main"].logins)
    sizes = {
        s.name: value(metrics, "engarde_schema_size_bytes", schema=s.name)
        for s in deployed.topology.layouts["main"].schemas
    }
    assert sizes["madansara"] > 2_000_000 > sizes["onside"]


def test_flowdb_exporter_reports_dead_tuples_on_langflows_busy_tables(deployed: Deployment, tmp_path: Path) -> None:
    with deployed.connect("flowdb", "langflow_app", autocommit=True) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS vertex_build (id serial PRIMARY KEY, data text)")
        connection.execute("INSERT INTO vertex_build (data) SELECT 'v' FROM generate_series(1, 500)")
        connection.execute("DELETE FROM vertex_build WHERE id % 5 <> 0")
    with exporter(deployed, "postgres-exporter-flowdb", tmp_path) as url:
        for _ in range(50):  # statistics reach the views within a second or so of the commit
            dead = scrape(url).get("engarde_langflow_tuples_dead", {})
            if any('table="vertex_build"' in text and v >= 400 for text, v in dead.items()):
                break
            time.sleep(0.2)
        metrics = scrape(url)
    assert value(metrics, "pg_up") == 1
    assert value(metrics, "engarde_langflow_tuples_dead", table="vertex_build") >= 400
    assert value(metrics, "engarde_role_connections_in_use", role="langflow_app") == 0


@pytest.mark.parametrize("server", ["main", "flowdb"])
def test_the_monitor_role_reads_nothing_in_any_schema(deployed: Deployment, server: str) -> None:
    database = deployed.topology.servers[server].database
    with admin(deployed.servers[server], database) as connection:
        tables: list[Any] = connection.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(%s)",
            ([s.name for s in deployed.topology.layouts[server].schemas],),
        ).fetchall()
    assert len(tables) >= 2
    with deployed.connect(server, "engarde_monitor", autocommit=True) as monitor:
        for schema, table in tables:
            usage = monitor.execute("SELECT has_schema_privilege(current_user, %s, 'USAGE')", (schema,)).fetchone()
            assert usage == (False,), schema
            with pytest.raises(errors.InsufficientPrivilege), monitor.transaction():
                monitor.execute(f"SELECT 1 FROM {quote_ident(schema)}.{quote_ident(table)} LIMIT 1")
