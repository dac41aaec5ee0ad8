"""`pulumi up` of the dev stack from nothing on the real Docker engine (with main's pooler and a read
replica), then what every container does with what the stack wired into it, seen from inside the stack's
Docker network; a backup restored into a fresh server; then a second `preview` and a `refresh` that find
nothing to change."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.e2e.engine import Recorder
from tests.e2e_docker.conftest import APP_SCHEMAS, DockerStack, http_json, states, wait_healthy
from topology.backups import job_script
from topology.catalog import LANGFLOW_PORT
from topology.model import Engine


@pytest.fixture(scope="module")
def stack_overrides() -> dict[str, Any]:
    return {"servers": {"main": {"pooler": "pgbouncer", "replicas": [{}]}}}


@pytest.fixture(scope="module")
def deployed(docker_stack: DockerStack) -> Iterator[tuple[DockerStack, Recorder]]:
    recorder = docker_stack.up()
    yield docker_stack, recorder


@pytest.fixture(scope="module")
def healthy(deployed: tuple[DockerStack, Recorder]) -> DockerStack:
    stack, _ = deployed
    wait_healthy(stack)
    return stack


def test_up_from_nothing_runs_every_container(deployed: tuple[DockerStack, Recorder]) -> None:
    stack, recorder = deployed
    created = {step.urn.rsplit("::", 1)[1] for step in recorder.steps if step.op == "create"}
    containers = stack.docker.names("container", stack.prefix)
    expected = {stack.container(name) for name in (*APP_SCHEMAS, "langflow-server", "egm-scheduler", "redis")}
    assert expected <= containers
    assert {"main", "flowdb", "scheduler"} <= {name.removeprefix(stack.prefix + "-") for name in containers}
    assert len(created) > 100


def test_every_container_runs_and_passes_its_healthcheck(healthy: DockerStack) -> None:
    with_checks = {name for name, (_, health) in states(healthy).items() if health is not None}
    servers = {healthy.container(name) for name in ("main", "flowdb", "scheduler")}
    apps = {healthy.container(name) for name in APP_SCHEMAS}
    assert servers | apps | {healthy.container("langflow-server"), healthy.container("redis")} <= with_checks


@pytest.mark.parametrize("service", sorted(APP_SCHEMAS))
def test_each_service_lands_in_its_own_schema_and_reads_no_other(healthy: DockerStack, service: str) -> None:
    code, report = http_json(healthy, service, 8000, "/health")
    assert (code, report["healthy"]) == (200, True), report
    own = report["dsns"]["DATABASE_URL"]
    assert own["current_schema"] == own["tables_schema"] == APP_SCHEMAS[service], own
    assert own["migrated"] and own["row_written"] and own["row_read"], own
    for name, dsn in report["dsns"].items():
        assert dsn["foreign_readable"] == [], (name, dsn["foreign_readable"])
    if service.startswith("backend"):
        flow = report["dsns"]["LANGFLOW_DATABASE_URL"]
        assert flow["user"] == "engarde_flow_reader" and flow["read_ok"] and flow["write_refused"], flow
        assert report["redis"]["REDIS_URL"]["ok"], report["redis"]


def test_the_pooler_serves_the_services_dsns(healthy: DockerStack) -> None:
    """Each service's DSN on main goes through the pooler, and the service did its work through it."""
    for service in APP_SCHEMAS:
        url = healthy.env(service)["DATABASE_URL"]
        assert conninfo_to_dict(url)["host"] == "main-pgbouncer", service
    code, report = http_json(healthy, "madan-sara", 8000, "/health")
    assert code == 200 and report["dsns"]["DATABASE_URL"]["migrated"], report


def test_a_replica_container_streams_from_its_primary(healthy: DockerStack) -> None:
    assert healthy.psql("main", "SELECT state FROM pg_stat_replication") == "streaming"
    healthy.psql("main", "CREATE TABLE replicated (note text); INSERT INTO replicated VALUES ('from main')")
    deadline = time.monotonic() + 30
    while (seen := healthy.psql("main-replica-1", "SELECT to_regclass('replicated') IS NOT NULL")) != "t":
        assert time.monotonic() < deadline, "the replica never replayed the primary's table"
        time.sleep(1)
    assert healthy.psql("main-replica-1", "SELECT note FROM replicated") == "from main"
    assert healthy.psql("main-replica-1", "SELECT pg_is_in_recovery()") == "t"
    assert seen == "t"


def test_a_backup_job_writes_a_dump_that_restores_into_a_fresh_server(healthy: DockerStack) -> None:
    """main's job dumps `engarde` (the services' schemas and rows); pg_restore loads it into a new server."""
    backup = healthy.container("backup-main")
    # One more run of the job's own script, now that every service has migrated (the first ran at start).
    healthy.docker.run("exec", "-e", "BACKUP_ONCE=1", backup, "sh", "-c", job_script(Engine.POSTGRESQL))
    dumps = sorted(healthy.docker.exec(backup, "sh", "-c", "ls /backups/main/ | grep -E '[.]dump$'").split())
    image = healthy.config["servers"]["main"]["image"]
    fresh = f"{healthy.prefix}-restore-check"
    volume = healthy.docker.inspect("container", backup)["Mounts"][0]["Name"]
    healthy.docker.run(
        "run", "-d", "--name", fresh, "-e", "POSTGRES_PASSWORD=restore-check", "-v", f"{volume}:/backups:ro", image
    )
    try:
        deadline = time.monotonic() + 60
        while healthy.docker.run("exec", fresh, "pg_isready", "-h", "127.0.0.1", check=False).find("accepting") < 0:
            assert time.monotonic() < deadline, "the fresh server never started"
            time.sleep(1)
        restore = (
            "pg_restore --no-owner --no-privileges -h 127.0.0.1 -U postgres -d postgres /backups/main/" + dumps[-1]
        )
        healthy.docker.run("exec", "-e", "PGPASSWORD=restore-check", fresh, "sh", "-c", restore)
        count = "SELECT count(*) FROM madansara.standin_items"
        rows = healthy.docker.run(
            "exec", "-e", "PGPASSWORD=restore-check", fresh, "psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", count
        )
        assert int(rows.strip()) >= 1
    finally:
        healthy.docker.run("rm", "--force", fresh, check=False)


LANGFLOW_CREDENTIAL_CHECK = f"""
import json, os, urllib.parse, urllib.request
import psycopg
from cryptography.fernet import Fernet
base = "http://127.0.0.1:{LANGFLOW_PORT}"
form = {{"username": os.environ["LANGFLOW_SUPERUSER"], "password": os.environ["LANGFLOW_SUPERUSER_PASSWORD"]}}
with urllib.request.urlopen(base + "/api/v1/login", urllib.parse.urlencode(form).encode(), timeout=30) as r:
    token = json.loads(r.read())["access_token"]
body = {{"name": "ENGARDE_E2E_KEY", "value": "sk-engarde-e2e", "type": "Credential", "default_fields": []}}
headers = {{"Authorization": "Bearer " + token, "Content-Type": "application/json"}}
request = urllib.request.Request(base + "/api/v1/variables/", json.dumps(body).encode(), headers)
with urllib.request.urlopen(request, timeout=30) as r:
    saved = json.loads(r.read())
url = os.environ["LANGFLOW_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
with psycopg.connect(url) as connection:
    (stored,) = connection.execute("SELECT value FROM variable WHERE name = 'ENGARDE_E2E_KEY'").fetchone()
key = os.environ["LANGFLOW_SECRET_KEY"]
decrypted = Fernet(key + "=" * (-len(key) % 4)).decrypt(stored.encode()).decode()
print(json.dumps({{"logged_in": bool(token), "saved": saved["has_value"], "encrypted": "sk-engarde-e2e" not in stored,
                  "decrypts": decrypted == "sk-engarde-e2e"}}))
"""
"""Inside the Langflow container: the stack's superuser logs in, saves a credential, and what Langflow stored
in flowdb decrypts with the stack's LANGFLOW_SECRET_KEY (as a Fernet key). Prints no secret."""


def test_langflow_serves_on_flowdb_with_the_stacks_superuser_and_key(healthy: DockerStack) -> None:
    code, health = http_json(healthy, "langflow-server", LANGFLOW_PORT, "/health_check")
    assert code == 200 and health["db"] == "ok", health
    checks = json.loads(
        healthy.docker.exec(healthy.container("langflow-server"), "python", "-c", LANGFLOW_CREDENTIAL_CHECK)
    )
    assert checks == {"logged_in": True, "saved": True, "encrypted": True, "decrypts": True}


def test_the_scheduler_user_works_in_its_database_on_mariadb_and_sees_no_other(healthy: DockerStack) -> None:
    fetch = (
        "echo file_get_contents('http://127.0.0.1/health', false,"
        " stream_context_create(['http' => ['ignore_errors' => true]]));"
    )
    answer = healthy.docker.exec(healthy.container("egm-scheduler"), "php", "-r", fetch)
    report = json.loads(answer)
    assert report["healthy"] and report["isolated"], report
    assert report["server_version"].startswith("10.5."), report["server_version"]
    assert report["databases_visible"] == ["easyappointments", "information_schema"]


def test_redis_refuses_a_client_without_the_password(healthy: DockerStack) -> None:
    answer = healthy.docker.exec(healthy.container("redis"), "redis-cli", "ping", check=False)
    assert "NOAUTH" in answer


def test_a_second_preview_and_a_refresh_find_nothing_to_change(healthy: DockerStack) -> None:
    """What the engine reads back from Docker and the servers equals what the program sets (found: the
    healthcheck's `startPeriod` read back as Go spells durations)."""
    healthy.engine.stack.preview(expect_no_changes=True)
    healthy.engine.stack.refresh(expect_no_changes=True)
