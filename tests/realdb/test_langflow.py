"""Langflow itself on the databases the stack provisions: `langflow-base` of the release the stack's
image runs (`topology.catalog.LANGFLOW_VERSION`), its own migrations and server, with the env the
stack hands to langflow-server (only its hosts and ports, the cache and config paths changed for a
process on this machine: no Redis, no container).

The stack runs with `crossDatabaseReads`: main reads Langflow's tables, made by Langflow's own
migrations on flowdb, through postgres_fdw.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors

from review.audit.checks import Finding, audit_servers
from review.capture.program import unwrap_secrets
from tests.prerequisites import missing_prerequisite
from tests.realdb import langflow_builds
from tests.realdb.conftest import Deployment, Servers, deploy
from tests.realdb.servers import postgres_server
from topology.catalog import (
    ANALYTICS,
    AUDIT_USER,
    BACKUP_ROLE,
    FLOW_READER,
    FOREIGN_SERVER,
    LANGFLOW_VERSION,
    PLATFORM_IMAGES,
    REMOTE_OWNER,
    REMOTE_SCHEMA,
)

pytestmark = pytest.mark.postgres_independent
CREDENTIAL = "sk-engarde-test-credential"


@dataclass
class RunningLangflow:
    url: str
    env: dict[str, str]
    deployment: Deployment

    def call(self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def token(self) -> str:
        form = {"username": self.env["LANGFLOW_SUPERUSER"], "password": self.env["LANGFLOW_SUPERUSER_PASSWORD"]}
        return str(self.call("/api/v1/login", urllib.parse.urlencode(form).encode())["access_token"])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def langflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLangflow]:
    if not langflow_builds.installed():
        missing_prerequisite(f"langflow-base {LANGFLOW_VERSION} (the Langflow test build)")
    with postgres_server("langflow-main") as main, postgres_server("langflow-flowdb") as flowdb:
        deployment = deploy(
            Servers(main=main, flowdb=flowdb, scheduler=None), apply_to=("main", "flowdb"), crossDatabaseReads=True
        )
        env = unwrap_secrets(deployment.capture.outputs["services"])["langflow-server"]["env"]
        port = _free_port()
        run_env = {
            **os.environ,
            **{key: str(value) for key, value in env.items() if key.startswith("LANGFLOW_")},
            # The stack's DSN, pointed at this machine's flowdb; a memory cache in place of the stack's Redis.
            "LANGFLOW_DATABASE_URL": re.sub(
                r"@[\w.-]+:\d+/", f"@{flowdb.host}:{flowdb.port}/", env["LANGFLOW_DATABASE_URL"]
            ),
            "LANGFLOW_CACHE_TYPE": "memory",
            "LANGFLOW_CONFIG_DIR": str(tmp_path_factory.mktemp("langflow-config")),
            "LANGFLOW_HOST": "127.0.0.1",
            "LANGFLOW_PORT": str(port),
            "DO_NOT_TRACK": "true",
        }
        log = tmp_path_factory.mktemp("langflow-log") / "langflow.log"
        with log.open("w") as output:
            command = [str(langflow_builds.langflow_bin()), "run", "--backend-only", "--host", "127.0.0.1",
                       "--port", str(port)]  # fmt: skip
            process = subprocess.Popen(command, env=run_env, stdout=output, stderr=subprocess.STDOUT)
        try:
            running = RunningLangflow(f"http://127.0.0.1:{port}", {k: str(v) for k, v in env.items()}, deployment)
            _wait_healthy(running, process, log)
            yield running
        finally:
            process.terminate()
            process.wait(60)


def _wait_healthy(langflow: RunningLangflow, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"langflow exited: {log.read_text()[-2000:]}")
        try:
            if langflow.call("/health_check") == {"status": "ok", "chat": "ok", "db": "ok"}:
                return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"langflow never became healthy: {log.read_text()[-2000:]}")


def test_the_image_the_stack_runs_is_the_release_tested_here() -> None:
    assert PLATFORM_IMAGES["langflow-server"] == f"langflowai/langflow:{LANGFLOW_VERSION}"
    required = [line.strip() for line in langflow_builds.LOCK.read_text().splitlines()]
    assert f"langflow-base=={LANGFLOW_VERSION} \\" in required, "images/langflow/requirements.txt locks another release"


def test_its_migrations_make_its_tables_in_flowdb_owned_by_its_role(langflow: RunningLangflow) -> None:
    servers = langflow.deployment.servers
    with psycopg.connect(servers.flowdb.dsn("langflow")) as connection:
        tables: dict[str, str] = dict(connection.execute(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall())  # fmt: skip
    assert {"flow", "user", "variable", "alembic_version"} <= set(tables)
    assert set(tables.values()) == {"langflow_app"}
    with psycopg.connect(servers.main.dsn("engarde")) as connection:
        assert connection.execute("SELECT 1 FROM pg_tables WHERE tablename = 'flow'").fetchone() is None


def test_the_superuser_logs_in_and_a_credential_is_stored_encrypted(langflow: RunningLangflow) -> None:
    headers = {"Authorization": f"Bearer {langflow.token()}", "Content-Type": "application/json"}
    body = json.dumps({"name": "ENGARDE_TEST_KEY", "value": CREDENTIAL, "type": "Credential", "default_fields": []})
    saved = langflow.call("/api/v1/variables/", body.encode(), headers)
    assert saved["has_value"] is True and saved["value"] is None
    with psycopg.connect(langflow.deployment.servers.flowdb.dsn("langflow")) as connection:
        row = connection.execute("SELECT value FROM variable WHERE name = 'ENGARDE_TEST_KEY'").fetchone()
    assert row is not None and CREDENTIAL not in str(row[0])  # Fernet, under the stack's LANGFLOW_SECRET_KEY


def test_the_reader_role_reads_langflows_tables_and_writes_nothing(langflow: RunningLangflow) -> None:
    with langflow.deployment.connect("flowdb", "engarde_flow_reader", autocommit=True) as connection:
        assert connection.execute("SELECT count(*) FROM flow").fetchone() is not None
        with pytest.raises(errors.InsufficientPrivilege):
            connection.execute("DELETE FROM flow")


# Cross-database reads ---------------------------------------------------------------------------

PROBE_FLOW = "engarde-fdw-probe"
REFRESH = f"{REMOTE_SCHEMA}.refresh_foreign_tables()"


@pytest.fixture(scope="module")
def probe_flow(langflow: RunningLangflow) -> str:
    """A flow saved through Langflow's API, and a main table naming it (made by its schema's owner)."""
    headers = {"Authorization": f"Bearer {langflow.token()}", "Content-Type": "application/json"}
    body = {"name": PROBE_FLOW, "description": "engarde", "data": {"nodes": [], "edges": []}}
    langflow.call("/api/v1/flows/", json.dumps(body).encode(), headers)
    servers = langflow.deployment.servers
    with psycopg.connect(servers.main.dsn("engarde"), autocommit=True) as connection:
        connection.execute("SET ROLE madansara_user")
        connection.execute("CREATE TABLE madansara.flow_runs (flow_name text, runs int)")
        connection.execute("INSERT INTO madansara.flow_runs VALUES (%s, 3)", (PROBE_FLOW,))
    return PROBE_FLOW


def test_analytics_joins_a_main_table_with_langflows_flow_table_after_one_refresh(
    langflow: RunningLangflow, probe_flow: str
) -> None:
    with langflow.deployment.connect("main", ANALYTICS, autocommit=True) as connection:
        imported = connection.execute(f"SELECT {REFRESH}").fetchone()
        assert imported is not None and imported[0] >= 4  # flow, user, variable, alembic_version, ...
        rows = connection.execute(
            f"SELECT f.name, r.runs FROM {REMOTE_SCHEMA}.flow f JOIN madansara.flow_runs r ON r.flow_name = f.name"
        ).fetchall()
    assert rows == [(probe_flow, 3)]


def test_a_table_a_later_langflow_migration_makes_is_readable_after_a_refresh_without_pulumi_up(
    langflow: RunningLangflow,
) -> None:
    deployment = langflow.deployment
    with psycopg.connect(deployment.servers.flowdb.dsn("langflow"), autocommit=True) as connection:
        connection.execute("SET ROLE langflow_app")
        connection.execute("CREATE TYPE run_state AS ENUM ('queued', 'done')")
        connection.execute("CREATE TABLE flow_run (id int PRIMARY KEY, state run_state, tags run_state[])")
        connection.execute("INSERT INTO flow_run VALUES (1, 'done', '{queued,done}')")
    with deployment.connect("main", ANALYTICS, autocommit=True) as connection:
        with pytest.raises(errors.UndefinedTable):
            connection.execute(f"SELECT * FROM {REMOTE_SCHEMA}.flow_run")
        connection.execute(f"SELECT {REFRESH}")
        # An enum, and an array of one, read as text: main has no such types.
        assert connection.execute(f"SELECT * FROM {REMOTE_SCHEMA}.flow_run").fetchall() == [
            (1, "done", "{queued,done}")
        ]


def test_analytics_cannot_write_through_the_mapping_even_when_granted_locally(
    langflow: RunningLangflow, probe_flow: str
) -> None:
    deployment = langflow.deployment
    with deployment.connect("main", ANALYTICS, autocommit=True) as connection:
        connection.execute(f"SELECT {REFRESH}")
        with pytest.raises(errors.InsufficientPrivilege, match=r"permission denied for (foreign )?table flow"):
            connection.execute(f"DELETE FROM {REMOTE_SCHEMA}.flow")
    flow = f"{REMOTE_SCHEMA}.flow"
    with psycopg.connect(deployment.servers.main.dsn("engarde"), autocommit=True) as connection:
        connection.execute(f"GRANT DELETE ON {flow} TO {ANALYTICS}")
    try:
        # Past main's grant, flowdb refuses: the mapping logs in as the read-only role.
        with (
            deployment.connect("main", ANALYTICS, autocommit=True) as connection,
            pytest.raises(errors.InsufficientPrivilege, match="permission denied for table flow"),
        ):
            connection.execute(f"DELETE FROM {flow}")
    finally:
        with psycopg.connect(deployment.servers.main.dsn("engarde"), autocommit=True) as connection:
            connection.execute(f"REVOKE DELETE ON {flow} FROM {ANALYTICS}")
    with psycopg.connect(deployment.servers.flowdb.dsn("langflow")) as connection:
        assert connection.execute("SELECT count(*) FROM flow WHERE name = %s", (probe_flow,)).fetchone() == (1,)


def test_no_other_role_can_read_the_foreign_tables_or_use_the_mapping(
    langflow: RunningLangflow, probe_flow: str
) -> None:
    deployment = langflow.deployment
    with deployment.connect("main", ANALYTICS, autocommit=True) as connection:
        connection.execute(f"SELECT {REFRESH}")
    others = sorted({role for server, role in deployment.dsns if server == "main" and role != ANALYTICS})
    assert {"engarde_app", AUDIT_USER, BACKUP_ROLE, "langflow_reader", "madansara_user"} <= set(others)
    for role in others:
        with deployment.connect("main", role, autocommit=True) as connection:
            if role == BACKUP_ROLE:  # pg_read_all_data passes main's checks; the missing mapping stops it
                with pytest.raises(errors.UndefinedObject, match=f'user mapping not found for "{role}"'):
                    connection.execute(f"SELECT count(*) FROM {REMOTE_SCHEMA}.flow")
            else:
                with pytest.raises(errors.InsufficientPrivilege, match=f"schema {REMOTE_SCHEMA}"):
                    connection.execute(f"SELECT count(*) FROM {REMOTE_SCHEMA}.flow")
            with pytest.raises(errors.InsufficientPrivilege, match="refresh_foreign_tables"):
                connection.execute(f"SELECT {REFRESH}")
    # Given the schema and the table by hand, a role still has no mapping: flowdb is never reached.
    with psycopg.connect(deployment.servers.main.dsn("engarde"), autocommit=True) as connection:
        connection.execute(f"GRANT USAGE ON SCHEMA {REMOTE_SCHEMA} TO engarde_app")
        connection.execute(f"GRANT SELECT ON {REMOTE_SCHEMA}.flow TO engarde_app")
    try:
        with (
            deployment.connect("main", "engarde_app", autocommit=True) as connection,
            pytest.raises(errors.UndefinedObject, match='user mapping not found for "engarde_app"'),
        ):
            connection.execute(f"SELECT count(*) FROM {REMOTE_SCHEMA}.flow")
    finally:
        with psycopg.connect(deployment.servers.main.dsn("engarde"), autocommit=True) as connection:
            connection.execute(f"REVOKE SELECT ON {REMOTE_SCHEMA}.flow FROM engarde_app")
            connection.execute(f"REVOKE USAGE ON SCHEMA {REMOTE_SCHEMA} FROM engarde_app")


def test_the_mappings_are_the_owners_and_analytics_each_as_flowdbs_read_only_login(
    langflow: RunningLangflow,
) -> None:
    deployment = langflow.deployment
    reader_dsn = deployment.dsns[("flowdb", FLOW_READER)]
    reader_password = str(psycopg.conninfo.conninfo_to_dict(reader_dsn)["password"])
    with psycopg.connect(deployment.servers.main.dsn("engarde")) as connection:
        mappings = connection.execute(
            "SELECT usename, umoptions FROM pg_user_mappings WHERE srvname = %s ORDER BY usename", (FOREIGN_SERVER,)
        ).fetchall()
        owner = connection.execute(
            "SELECT c.relowner::regrole::text FROM pg_class c WHERE c.oid = %s::regclass",
            (f"{REMOTE_SCHEMA}.flow",),
        ).fetchone()
    assert [name for name, _ in mappings] == sorted([ANALYTICS, REMOTE_OWNER])
    for _, options in mappings:
        assert sorted(options) == sorted([f"user={FLOW_READER}", f"password={reader_password}"])
    assert owner == (REMOTE_OWNER,)
    # The mapping's password never reaches a plain output: only the secret `services` output holds it.
    plain = {key: value for key, value in deployment.capture.outputs.items() if key != "services"}
    assert reader_password not in json.dumps(unwrap_secrets(plain))


def test_the_audit_finds_nothing_after_a_refresh_and_names_a_mapping_that_logs_in_as_langflow_app(
    langflow: RunningLangflow, probe_flow: str
) -> None:
    deployment = langflow.deployment
    dsns = {"main": deployment.servers.main.dsn("engarde"), "flowdb": deployment.servers.flowdb.dsn("langflow")}
    with deployment.connect("main", ANALYTICS, autocommit=True) as connection:
        connection.execute(f"SELECT {REFRESH}")
    assert audit_servers(deployment.topology, dsns) == []
    with psycopg.connect(dsns["main"], autocommit=True) as connection:
        connection.execute(
            f"ALTER USER MAPPING FOR {ANALYTICS} SERVER {FOREIGN_SERVER} OPTIONS (SET user 'langflow_app')"
        )
        connection.execute(f"CREATE USER MAPPING FOR PUBLIC SERVER {FOREIGN_SERVER} OPTIONS (user 'langflow_app')")
    try:
        server = f"user mapping on {FOREIGN_SERVER}"
        assert audit_servers(deployment.topology, dsns) == [
            Finding("main", server, ANALYTICS, f"as {FLOW_READER}", "as langflow_app"),
            Finding("main", server, "public", "no mapping", "as langflow_app"),
        ]
    finally:
        with psycopg.connect(dsns["main"], autocommit=True) as connection:
            connection.execute(f"DROP USER MAPPING FOR PUBLIC SERVER {FOREIGN_SERVER}")
            connection.execute(
                f"ALTER USER MAPPING FOR {ANALYTICS} SERVER {FOREIGN_SERVER} OPTIONS (SET user '{FLOW_READER}')"
            )
