"""Langflow itself on the databases the stack provisions: `langflow-base` of the release the stack's
image runs (`topology.catalog.LANGFLOW_VERSION`), its own migrations and server, with the env the
stack hands to langflow-server (only its hosts and ports, the cache and config paths changed for a
process on this machine: no Redis, no container).
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

from review.capture import unwrap_secrets
from tests.realdb import langflow_builds
from tests.realdb.conftest import Deployment, Servers, deploy
from tests.realdb.servers import postgres_server
from topology.catalog import LANGFLOW_VERSION, PLATFORM_IMAGES

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
        pytest.fail(f"langflow-base {LANGFLOW_VERSION} is not installed: run {langflow_builds.INSTALL_COMMAND}")
    with postgres_server("langflow-main") as main, postgres_server("langflow-flowdb") as flowdb:
        deployment = deploy(Servers(main=main, flowdb=flowdb, scheduler=None), apply_to=("main", "flowdb"))
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
    marker = langflow_builds.root() / LANGFLOW_VERSION / langflow_builds.MARKER
    assert marker.read_text().strip() == LANGFLOW_VERSION


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
