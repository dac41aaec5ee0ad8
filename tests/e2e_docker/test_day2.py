"""Day 2 of the dev stack on the real Docker engine, one change after the other: add a service, rotate a
password as docs/operations.md says, change a server's image tag, remove the service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.e2e_docker.conftest import DockerStack, http_json, wait_healthy

BILLING = {"schema": "billing"}
ROTATED = "main-madansara_user-password"
"""The RandomPassword the documented rotation replaces (madan-sara's login on main)."""


@pytest.fixture(scope="module")
def stack(docker_stack: DockerStack) -> Iterator[DockerStack]:
    docker_stack.up()
    wait_healthy(docker_stack)
    yield docker_stack


def container_id(stack: DockerStack, name: str) -> str:
    return str(stack.docker.inspect("container", stack.container(name))["Id"])


def with_service(config: dict[str, Any], image: str) -> dict[str, Any]:
    return {**config, "services": {"billing": {**BILLING, "image": image}}}


def urn_named(stack: DockerStack, name: str) -> str:
    deployment = stack.engine.stack.export_stack().deployment or {}
    resources = deployment["resources"]
    return next(str(r["urn"]) for r in resources if str(r["urn"]).endswith(f"::{name}"))


def host_login(stack: DockerStack, url: str) -> None:
    """Log in as the URL's role, to main on its published port (the URL's host is a network alias)."""
    parts = conninfo_to_dict(url)
    port = stack.config["servers"]["main"]["hostPort"]
    with psycopg.connect(
        host="127.0.0.1", port=port, dbname=parts["dbname"], user=parts["user"], password=parts["password"]
    ) as connection:
        connection.execute("SELECT 1")


def test_adding_a_service_starts_its_container_in_its_own_schema(stack: DockerStack) -> None:
    image = stack.config["images"]["madan-sara"]
    stack.configure(with_service(stack.config, image))
    stack.up()
    wait_healthy(stack)
    code, report = http_json(stack, "billing", 8000, "/health")
    assert code == 200 and report["healthy"], report
    own = report["dsns"]["DATABASE_URL"]
    assert (own["user"], own["current_schema"], own["tables_schema"]) == ("billing_user", "billing", "billing")
    assert own["foreign_readable"] == []


def test_rotating_a_password_recreates_what_carries_it_and_the_old_one_is_refused(stack: DockerStack) -> None:
    old_url = stack.env("madan-sara")["DATABASE_URL"]
    before = container_id(stack, "madan-sara")
    untouched = container_id(stack, "sankore-paidads")
    recorder = stack.up(replace=[urn_named(stack, ROTATED)])
    new_url = stack.env("madan-sara")["DATABASE_URL"]
    assert conninfo_to_dict(new_url)["password"] != conninfo_to_dict(old_url)["password"]
    assert container_id(stack, "madan-sara") != before
    assert container_id(stack, "sankore-paidads") == untouched
    assert any(step.urn.endswith("::madan-sara") and step.op == "create-replacement" for step in recorder.steps)
    wait_healthy(stack)
    host_login(stack, new_url)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        host_login(stack, old_url)
    code, report = http_json(stack, "madan-sara", 8000, "/health")
    assert code == 200 and report["healthy"], report


def test_changing_a_servers_image_tag_replaces_its_containers_and_keeps_its_data(stack: DockerStack) -> None:
    """`engarde.local/postgres:15.20` to `engarde.local/postgres:15`, the same server under its major's tag:
    the containers running that image are replaced, the data volume stays, and so do the rows."""
    stack.psql("main", "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('written before')", "engarde")
    image = stack.config["servers"]["main"]["image"]
    major = image.rsplit(":", 1)[0] + ":" + image.rsplit(":", 1)[1].split(".", 1)[0]
    config = dict(stack.config)
    config["servers"] = {**config["servers"], "main": {**config["servers"]["main"], "image": major}}
    stack.configure(config)
    recorder = stack.up()
    replaced = {step.urn.rsplit("::", 1)[1] for step in recorder.steps if step.op == "replace"}
    # main's container and main's backup job, which runs the server's image (its client matches the server).
    assert replaced == {"main-container", "backup-main"}, replaced
    # The data volume is not touched (Docker's CreatedAt of a local volume is its directory's ctime, which the
    # server's start changes: the engine's steps and the rows are what tell).
    assert not [step for step in recorder.steps if step.urn.endswith("::main-data") and step.op != "same"]
    wait_healthy(stack)
    assert stack.psql("main", "SELECT note FROM kept", "engarde") == "written before"


def test_removing_a_service_removes_its_container_and_its_schema(stack: DockerStack) -> None:
    config = {key: value for key, value in stack.config.items() if key != "services"}
    stack.configure(config)
    recorder = stack.up()
    deleted = {step.urn.rsplit("::", 1)[1] for step in recorder.steps if step.op == "delete"}
    assert {"billing", "main-billing", "main-billing_user"} <= deleted
    assert stack.container("billing") not in stack.docker.names("container", stack.prefix)
    assert stack.psql("main", "SELECT count(*) FROM pg_namespace WHERE nspname = 'billing'", "engarde") == "0"
    wait_healthy(stack)
