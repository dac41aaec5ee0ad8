"""The audit table's dynamic provider (components/sql_script.py) through the real engine.

It needs no plugin beyond what `make toolchain` builds from the Go module proxy (the CLI, the
Python language host, the dynamic provider's `pulumi-resource-pulumi-python`, and random), so CI
runs it everywhere: a program of the test's own registers the audit table's `SqlScript` on a real
PostgreSQL server, and a `RandomPassword` beside it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pulumi import automation as auto

from components.audit import AUDIT_TABLE, audit_table_exists_query, audit_table_sql
from resource_types import DYNAMIC_RESOURCE, RANDOM_PASSWORD
from tests.e2e.engine import EngineStack, Recorder, engine_stack
from tests.realdb.servers import RunningServer, postgres_server
from topology.catalog import AUDIT_OWNER, AUDIT_SCHEMA

PROGRAM = f"""
import pulumi
import pulumi_random

from components.sql_script import SqlScript, SqlScriptArgs

config = pulumi.Config()
table = SqlScript(
    "main-audit-table",
    SqlScriptArgs(
        host=config.require("host"),
        port=config.require_int("port"),
        user=config.require("user"),
        password=config.require_secret("password"),
        database=config.require("database"),
        sslmode="disable",
        sql={audit_table_sql(AUDIT_SCHEMA, AUDIT_OWNER)!r},
        exists_query={audit_table_exists_query(AUDIT_SCHEMA)!r},
    ),
)
password = pulumi_random.RandomPassword("probe-password", length=32, special=False)
pulumi.export("password", password.result)
"""
TABLE = f"{AUDIT_SCHEMA}.{AUDIT_TABLE}"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with postgres_server("e2e-dynamic") as running:
        with psycopg.connect(running.dsn(), autocommit=True) as connection:
            connection.execute(f"CREATE ROLE {AUDIT_OWNER} NOLOGIN")
            connection.execute(f"CREATE SCHEMA {AUDIT_SCHEMA} AUTHORIZATION {AUDIT_OWNER}")
        yield running


@pytest.fixture(scope="module")
def stack(server: RunningServer) -> Iterator[EngineStack]:
    with engine_stack("dev", None, "pulumi-python", "random", main=PROGRAM) as engine:
        engine.configure(
            {"host": server.host, "port": server.port, "user": server.admin_user, "database": server.database}
        )
        engine.stack.set_config("engarde:password", _secret(server.admin_password))
        yield engine


def _secret(value: str) -> auto.ConfigValue:
    return auto.ConfigValue(value, secret=True)


def _table_exists(server: RunningServer) -> bool:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        return connection.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone() != (None,)


def _resource_types(stack: EngineStack) -> list[str]:
    state = json.loads(json.dumps(stack.stack.export_stack().deployment))
    return sorted(r["type"] for r in state.get("resources", []))


def test_up_creates_the_table_and_a_generated_secret_password(stack: EngineStack, server: RunningServer) -> None:
    recorder = Recorder()
    stack.stack.up(on_event=recorder)
    assert _table_exists(server)
    assert {(s.op, s.type) for s in recorder.steps} >= {
        ("create", DYNAMIC_RESOURCE),
        ("create", RANDOM_PASSWORD),
    }
    password = stack.stack.outputs()["password"]
    assert password.secret and len(password.value) == 32
    state_files = list(Path(stack.env["PULUMI_BACKEND_URL"].removeprefix("file://")).rglob("*.json"))
    assert state_files
    for state_file in state_files:  # the backend's own file, as written: secrets only encrypted
        assert server.admin_password not in state_file.read_text(), state_file
        assert password.value not in state_file.read_text(), state_file


def test_refresh_notices_the_table_dropped_by_hand_and_up_makes_it_again(
    stack: EngineStack, server: RunningServer
) -> None:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        connection.execute(f"DROP TABLE {TABLE}")
    recorder = Recorder()
    stack.stack.refresh(on_event=recorder)
    assert DYNAMIC_RESOURCE not in _resource_types(stack)
    again = Recorder()
    stack.stack.up(on_event=again)
    assert [(s.op, s.type) for s in again.changes()] == [("create", DYNAMIC_RESOURCE)]
    assert _table_exists(server)
    stack.stack.preview(expect_no_changes=True)


def test_destroy_leaves_the_table_and_its_rows(stack: EngineStack, server: RunningServer) -> None:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        connection.execute(
            f"INSERT INTO {TABLE} (source_schema, target_schema, query) VALUES ('public', 'madansara', 'SELECT 1')"
        )
    stack.stack.destroy()
    assert _resource_types(stack) == []
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        assert connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone() == (1,)
