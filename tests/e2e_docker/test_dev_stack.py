"""`pulumi up` of the dev stack from nothing on the real Docker engine, then what every container does
with what the stack wired into it, seen from inside the stack's Docker network; then a second `preview`
and a `refresh` that find nothing to change."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.engine import Recorder
from tests.e2e_docker.conftest import DockerStack
from topology.catalog import ENGARDE_APPS, LANGFLOW_PORT

HEALTH_TIMEOUT = 420
"""Seconds every container gets to be healthy after `up` (Langflow's migrations take the most)."""
APP_SCHEMAS = {container: app.schema for app in ENGARDE_APPS for container in app.containers}


def http_json(stack: DockerStack, container: str, port: int, path: str) -> tuple[int, Any]:
    """GET `path` on the container's own port, from inside it: (status, JSON body)."""
    script = (
        "import json, sys, urllib.request, urllib.error\n"
        "try:\n"
        f"    r = urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=10); code = r.status\n"
        "except urllib.error.HTTPError as e:\n"
        "    r = e; code = e.code\n"
        "print(json.dumps({'code': code, 'body': r.read().decode()}))\n"
    )
    answer = json.loads(stack.docker.exec(stack.container(container), "python3", "-c", script))
    return int(answer["code"]), json.loads(answer["body"])


def states(stack: DockerStack) -> dict[str, tuple[bool, str | None]]:
    """Each of the stack's containers: (running, health status or None without a healthcheck)."""
    found = {}
    for name in stack.docker.names("container", stack.prefix):
        state = stack.docker.inspect("container", name)["State"]
        found[name] = (bool(state["Running"]), (state.get("Health") or {}).get("Status"))
    return found


@pytest.fixture(scope="module")
def deployed(docker_stack: DockerStack) -> Iterator[tuple[DockerStack, Recorder]]:
    recorder = docker_stack.up()
    yield docker_stack, recorder


@pytest.fixture(scope="module")
def healthy(deployed: tuple[DockerStack, Recorder]) -> DockerStack:
    """The stack once every container runs and every healthcheck passes (fails naming those that do not)."""
    stack, _ = deployed
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while True:
        now = states(stack)
        waiting = {name: state for name, state in now.items() if not state[0] or state[1] not in (None, "healthy")}
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert waiting == {}, f"not running and healthy after {HEALTH_TIMEOUT} s: {waiting}"
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


def test_langflow_serves_on_flowdb_with_the_stacks_superuser_and_key(healthy: DockerStack) -> None:
    code, health = http_json(healthy, "langflow-server", LANGFLOW_PORT, "/health_check")
    assert code == 200 and health["db"] == "ok", health


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
