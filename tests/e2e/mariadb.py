"""A throwaway MariaDB 10.5 server in a container of the project's own Docker engine, for the end-to-end tests.

The mysql provider (hashicorp/terraform-provider-mysql v1.9.0) reads `@@GLOBAL.innodb_version` before it
creates a user or a grant; MariaDB 10.10 dropped that variable, so the host's MariaDB (Debian bookworm's
10.11) cannot take the scheduler's resources. `make images` builds `engarde.local/mariadb:10.5.x` (Debian
bullseye's 10.5, which still has it), the image the dev stack runs.

    with mariadb_container("e2e-scheduler") as scheduler:
        pymysql.connect(host=scheduler.host, port=scheduler.port, ...)
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator

import pymysql  # type: ignore[import-untyped, unused-ignore]

from tests.docker_engine import run_docker, start_engine
from tests.prerequisites import missing_prerequisite
from tests.realdb.servers import RunningServer, ServerStartError

IMAGE = "engarde.local/mariadb:10.5.29"
PREREQUISITE = "MariaDB 10.5 (engarde.local/mariadb, `make images`)"
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 180.0
"""Seconds a first start gets: it initialises the data directory, then starts the server (2 busy cores)."""
LABEL = "engarde.test=e2e"
"""On every container this module starts, so one a killed test run left behind can be found."""


def _require_engine_and_image() -> None:
    """Skip (fail under CI) unless the project's engine runs, started if need be, and holds the image."""
    if start_engine() is not None or run_docker("image", "inspect", IMAGE).returncode != 0:
        missing_prerequisite(PREREQUISITE)


def _published_port(container: str) -> int:
    """The host port Docker chose for the container's 3306 (`-p 127.0.0.1::3306`: no race for a free port)."""
    listed = run_docker("port", container, "3306/tcp")
    if listed.returncode != 0 or not listed.stdout.strip():
        raise ServerStartError(f"container {container} publishes no port for 3306: {listed.stderr.strip()}")
    return int(listed.stdout.split()[0].rsplit(":", 1)[1])


def _answers(port: int, password: str) -> bool:
    try:
        connection = pymysql.connect(host=HOST, port=port, user="root", password=password, connect_timeout=2,
                                     read_timeout=5, write_timeout=5)  # fmt: skip
    except pymysql.err.OperationalError:
        return False  # not listening yet (the entrypoint initialises with networking off)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    finally:
        connection.close()


def _wait_until_ready(container: str, port: int, password: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not _answers(port, password):
        running = run_docker("inspect", "--format", "{{.State.Running}}", container).stdout.strip()
        if running != "true" or time.monotonic() > deadline:
            logs = run_docker("logs", "--tail", "30", container)
            tail = (logs.stdout + logs.stderr).replace(password, "***")
            state = "exited" if running != "true" else f"did not answer within {STARTUP_TIMEOUT:.0f} s"
            raise ServerStartError(f"MariaDB container {container} {state}; its last lines:\n{tail}")
        time.sleep(0.5)


@contextlib.contextmanager
def mariadb_container(name: str) -> Iterator[RunningServer]:
    """MariaDB 10.5 on a free 127.0.0.1 port, root with a random password (over TCP from anywhere);
    the container and its data are removed on exit."""
    _require_engine_and_image()
    password = secrets.token_urlsafe(24)
    container = f"engarde-{name}-{secrets.token_hex(4)}"
    # `-e NAME` without a value: docker takes it from its own environment, so the password is in no argv.
    started = run_docker(
        "run", "--detach", "--name", container, "--label", LABEL, "-e", "MYSQL_ROOT_PASSWORD",
        "-p", f"{HOST}::3306", IMAGE,
        env={"MYSQL_ROOT_PASSWORD": password},
    )  # fmt: skip
    try:
        if started.returncode != 0:
            raise ServerStartError(f"docker run {IMAGE} failed: {started.stderr.strip()[-2000:]}")
        port = _published_port(container)
        _wait_until_ready(container, port, password)
        yield RunningServer(engine="mysql", host=HOST, port=port, admin_user="root", admin_password=password,
                            database="mysql")  # fmt: skip
    finally:
        run_docker("rm", "--force", "--volumes", container)


def server_version(server: RunningServer) -> str:
    """`SELECT VERSION()` on a MariaDB/MySQL server, e.g. `10.5.29-MariaDB-0+deb11u1`."""
    connection = pymysql.connect(host=server.host, port=server.port, user=server.admin_user,
                                 password=server.admin_password)  # fmt: skip
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            row = cursor.fetchone()
    finally:
        connection.close()
    assert row is not None
    return str(row[0])
