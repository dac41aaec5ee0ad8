"""The PostgreSQL major-upgrade runbook (docs/operations.md), followed on the real engine and Docker engine:
main from PostgreSQL 15 to 17. A new image alone is refused before anything changes; with
`allowMajorUpgrade` the server starts on a new volume, every object of the stack is created on it again with
the same passwords, the dump restores, and the services work on the new server unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from tests.e2e_docker.conftest import APP_SCHEMAS, DockerStack, http_json, wait_healthy
from topology.catalog import ENGARDE_APPS

POSTGRES_17 = "engarde.local/postgres:17.10"
PROBE = ENGARDE_APPS[1]
"""The service whose schema the probe table lives in, owned by its role."""
DUMP = "/tmp/main.dump"


@pytest.fixture(scope="module")
def stack(docker_stack: DockerStack) -> Iterator[DockerStack]:
    docker_stack.up()
    wait_healthy(docker_stack)
    yield docker_stack


def with_main(stack: DockerStack, **main: Any) -> dict[str, Any]:
    config = dict(stack.config)
    config["servers"] = {**config["servers"], "main": {**config["servers"]["main"], **main}}
    return config


def step_names(steps: list[Any], op: str) -> set[str]:
    return {step.urn.rsplit("::", 1)[1] for step in steps if step.op == op}


@pytest.fixture(scope="module")
def upgraded(stack: DockerStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The runbook, step by step; what each step showed, for the tests below."""
    seen: dict[str, Any] = {}
    main = stack.container("main")
    stack.psql(
        "main",
        f"SET ROLE {PROBE.role}; CREATE TABLE {PROBE.schema}.upgrade_probe (note text);"
        f" INSERT INTO {PROBE.schema}.upgrade_probe VALUES ('written on 15')",
        "engarde",
    )
    seen["version_before"] = stack.psql("main", "SHOW server_version_num")
    # 1. Dump each database of the server (custom format), and copy the dump out.
    stack.docker.run("exec", "-u", "postgres", main, "pg_dump", "-U", "postgres", "-Fc", "-f", DUMP, "engarde")
    dump = tmp_path_factory.mktemp("dump") / "main.dump"
    stack.docker.run("cp", f"{main}:{DUMP}", str(dump))
    # 2. The new major's image alone: refused, nothing changes.
    stack.configure(with_main(stack, image=POSTGRES_17, imageVersion=17))
    with pytest.raises(auto.CommandError) as refused:
        stack.engine.stack.preview()
    seen["refusal"] = str(refused.value)
    # 3. With allowMajorUpgrade: the preview shows what is replaced, then the update.
    stack.configure(with_main(stack, image=POSTGRES_17, imageVersion=17, allowMajorUpgrade=True))
    preview = stack.engine.stack.preview()
    seen["preview_replaces"] = preview.change_summary.get(auto.OpType.REPLACE, 0)
    recorder = stack.up()
    seen["replaced"] = step_names(recorder.steps, "replace")
    seen["volumes"] = stack.docker.names("volume", f"{stack.prefix}-main-data")
    wait_healthy(stack)
    seen["version_after"] = stack.psql("main", "SHOW server_version_num")
    seen["probe_before_restore"] = stack.psql(
        "main", f"SELECT to_regclass('{PROBE.schema}.upgrade_probe') IS NULL", "engarde"
    )
    # 4. Restore into the new server, as the admin, with the new major's pg_restore.
    stack.docker.run("cp", str(dump), f"{main}:{DUMP}")
    stack.docker.exec(main, "chown", "postgres", DUMP)
    stack.docker.run(
        "exec", "-u", "postgres", main, "pg_restore", "-U", "postgres", "-d", "engarde",
        "--clean", "--if-exists", "--single-transaction", "--exit-on-error", DUMP,
    )  # fmt: skip
    yield seen


def test_a_new_major_alone_is_refused_before_anything_changes(upgraded: dict[str, Any]) -> None:
    assert (
        "engarde:servers.main.image: runs PostgreSQL 17, but its data volume holds PostgreSQL 15's data"
        in (upgraded["refusal"])
    )
    assert "allowMajorUpgrade" in upgraded["refusal"]
    assert upgraded["version_before"].startswith("15")


def test_allowed_the_server_runs_the_new_major_on_a_new_volume(stack: DockerStack, upgraded: dict[str, Any]) -> None:
    assert upgraded["version_after"].startswith("17")
    # dev is not protected: the old volume went with the old server, after the dump was taken.
    assert upgraded["volumes"] == {f"{stack.prefix}-main-data-17"}
    assert upgraded["probe_before_restore"] == "t"
    assert stack.outputs["servers"]["main"]["data"] == {
        "postgresMajor": "17",
        "volume": f"{stack.prefix}-main-data-17",
    }


def test_every_object_on_the_server_is_created_again_and_no_password_changes(upgraded: dict[str, Any]) -> None:
    replaced = upgraded["replaced"]
    assert {"main-container", "main-data", "backup-main", f"main-{PROBE.role}", "main-engarde"} <= replaced
    assert not {name for name in replaced if name.endswith("-password")}, replaced
    assert not {name for name in replaced if name.startswith(("flowdb", "scheduler"))}, replaced
    assert upgraded["preview_replaces"] == len(replaced)


def test_the_dump_restores_and_every_service_works_on_the_new_server(
    stack: DockerStack, upgraded: dict[str, Any]
) -> None:
    assert stack.psql("main", f"SELECT note FROM {PROBE.schema}.upgrade_probe", "engarde") == "written on 15"
    owner = stack.psql("main", "SELECT tableowner FROM pg_tables WHERE tablename = 'upgrade_probe'", "engarde")
    assert owner == PROBE.role
    for service in APP_SCHEMAS:
        code, report = http_json(stack, service, 8000, "/health")
        assert (code, report["healthy"]) == (200, True), (service, report)


def test_after_the_restore_the_stack_has_nothing_to_change(stack: DockerStack, upgraded: dict[str, Any]) -> None:
    stack.engine.stack.preview(expect_no_changes=True)
    stack.engine.stack.refresh(expect_no_changes=True)


def test_the_runbook_commands_are_the_ones_documented() -> None:
    runbook = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    commands = (
        "pg_dump -U postgres -Fc -f /tmp/main.dump engarde",
        "'servers.main.allowMajorUpgrade' true",
        "pg_restore -U postgres -d engarde --clean --if-exists --single-transaction --exit-on-error",
    )
    for command in commands:
        assert command in runbook, command
