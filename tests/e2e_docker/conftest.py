"""The dev stack for real: every container through the real docker provider on the project's own Docker
engine (`scripts/docker-engine`), with the images `make images` builds here, and the database resources
through the real postgresql and mysql providers against the servers those containers run.

The images of EnGarde's own services and of EasyAppointments cannot be had here: the stand-in images of
`images/service-standin` and `images/scheduler-standin` take their place (`build/standins.yaml`), each
doing with its env what such a service does with it and reporting it on its health endpoint.
"""

from __future__ import annotations

import fcntl
import json
import secrets
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROJECT_DIR, stack_file_config
from tests.docker_engine import DOCKER_HOST, run_docker, start_engine
from tests.e2e.engine import EngineStack, Recorder, engine_stack
from tests.prerequisites import missing_prerequisite
from topology.catalog import ENGARDE_APPS

IMAGE_FRAGMENTS = (PROJECT_DIR / "build" / "images.yaml", PROJECT_DIR / "build" / "standins.yaml")
PLUGINS = ("random", "docker", "postgresql", "mysql")
RUN_LOCKS = Path(tempfile.gettempdir()) / "engarde-e2e-docker"
"""One lock file per test session that has Docker objects on the engine, held while the session runs."""
RUN_ID_LENGTH = 6
STACK_PREFIX = "dk"
"""Every test stack's name: `dk<module><run id>`, so its objects are `engarde-dk<module><run id>-…`."""
HEALTH_TIMEOUT = 420
"""Seconds every container gets to be healthy after `up` (Langflow's migrations take the most)."""
APP_SCHEMAS = {container: app.schema for app in ENGARDE_APPS for container in app.containers}
"""Each EnGarde service container -> the schema its DSN lands in."""


@dataclass(frozen=True)
class Docker:
    """The project's Docker engine, through its CLI (never another daemon)."""

    def run(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 300) -> str:
        done = run_docker(*args, input=input, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"docker {args[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        return done.stdout

    def inspect(self, kind: str, name: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = json.loads(self.run(kind, "inspect", name))
        return found[0]

    def names(self, kind: str, prefix: str) -> set[str]:
        """The names of the engine's objects of `kind` (container, volume, network) starting with `prefix`."""
        listing = [kind, "ls", "--format", "{{.Names}}" if kind == "container" else "{{.Name}}"]
        listed = self.run(*listing, *(["--all"] if kind == "container" else []))
        return {name for name in listed.split() if name.startswith(prefix)}

    def exec(self, container: str, *command: str, check: bool = True) -> str:
        return self.run("exec", container, *command, check=check)


@pytest.fixture(scope="session")
def docker() -> Docker:
    """The project's Docker engine, started if it is not running (`scripts/docker-engine start`)."""
    failure = start_engine()
    if failure is not None:
        missing_prerequisite(f"the project's Docker engine ({failure})")
    return Docker()


def image_config() -> dict[str, Any]:
    """`build/images.yaml` and `build/standins.yaml` (what `make images` writes), namespace stripped."""
    missing = [path.name for path in IMAGE_FRAGMENTS if not path.is_file()]
    if missing:
        missing_prerequisite(f"the dev stack's images ({', '.join(missing)}: `make images`)")
    merged: dict[str, Any] = {}
    for path in IMAGE_FRAGMENTS:
        for key, value in (yaml.safe_load(path.read_text())["config"] or {}).items():
            name = key.split(":", 1)[1]
            merged[name] = deep_merge(merged.get(name), value)
    return merged


def deep_merge(base: Any, update: Any) -> Any:
    if isinstance(base, dict) and isinstance(update, dict):
        return {**base, **{key: deep_merge(base.get(key), value) for key, value in update.items()}}
    return update


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dev_config(**overrides: Any) -> dict[str, Any]:
    """Pulumi.dev.yaml's config with the images built here, free host ports, and `overrides` merged in."""
    config = deep_merge(stack_file_config("dev"), image_config())
    ports = {name: {"hostPort": free_port()} for name in ("main", "flowdb", "scheduler")}
    return dict(deep_merge(deep_merge(config, {"servers": ports}), overrides))


@dataclass(repr=False)
class DockerStack:
    """The dev stack on the real engine and the project's Docker engine. Its config and outputs hold the
    generated passwords: it has no repr, so no traceback prints them."""

    engine: EngineStack
    docker: Docker
    config: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"DockerStack({self.engine.name})"

    @property
    def prefix(self) -> str:
        """What the stack's Docker objects are named after (`engarde-<stack>`)."""
        return f"engarde-{self.engine.name}"

    def container(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def configure(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)
        self.engine.configure(self.config)

    def up(self, **options: Any) -> Recorder:
        recorder = Recorder()
        try:
            self.engine.stack.up(on_event=recorder, **options)
        finally:
            self.outputs = self.engine.outputs()
        return recorder

    def psql(self, server: str, query: str, database: str = "postgres") -> str:
        """A query as the admin (`postgres`), inside the server's (or replica's) container, over its own socket,
        which the image trusts: no password on any command line."""
        container = self.container(server)
        return self.docker.run(
            "exec", "-u", "postgres", container, "psql", "-U", "postgres", "-d", database, "-Atc", query
        ).strip()

    def env(self, service: str) -> dict[str, str]:
        """A service's env from the stack's `services` output (secrets in clear: the test's own use)."""
        env: dict[str, str] = self.outputs["services"][service]["env"]
        return env


@pytest.fixture(scope="session")
def run_id(docker: Docker) -> Iterator[str]:
    """This session's id, its lock held while it runs: a second session on the same engine (two CI runs at
    once) names its objects apart, and one that finds objects of a session that holds no lock (killed before
    its clean-up) removes them first."""
    RUN_LOCKS.mkdir(exist_ok=True)
    run = secrets.token_hex(RUN_ID_LENGTH // 2)
    lock_file = RUN_LOCKS / f"{run}.lock"
    with lock_file.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        remove_abandoned(docker)
        try:
            yield run
        finally:
            lock_file.unlink(missing_ok=True)


def session_alive(run: str) -> bool:
    """Whether the test session `run` still holds its lock."""
    lock_file = RUN_LOCKS / f"{run}.lock"
    try:
        with lock_file.open("r") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except FileNotFoundError:
        return False
    except BlockingIOError:
        return True
    return False


def remove_abandoned(docker: Docker) -> None:
    """The Docker objects of test sessions that ended without removing them (their lock is gone or free)."""
    remove_leftovers(
        docker, f"engarde-{STACK_PREFIX}", lambda name: not session_alive(name.split("-")[1][-RUN_ID_LENGTH:])
    )


@pytest.fixture(scope="module")
def stack_name(request: pytest.FixtureRequest, run_id: str) -> str:
    """One stack per test module and session: `dk<module><run id>`, so its containers, network and volumes
    are its own, and those of another session on the same engine are not its."""
    module = Path(str(request.node.fspath)).stem.removeprefix("test_").replace("_", "")
    return f"{STACK_PREFIX}{module[:12]}{run_id}"


@pytest.fixture(scope="module")
def stack_overrides() -> dict[str, Any]:
    """What a test module changes in the dev config (override the fixture in the module)."""
    return {}


@pytest.fixture(scope="module")
def destroy_at_end() -> bool:
    """Whether the module's stack is destroyed through the engine at the end (a protected stack cannot be:
    its Docker objects are removed instead; its state lives in a temporary directory)."""
    return True


@pytest.fixture(scope="module")
def docker_stack(
    docker: Docker, stack_name: str, stack_overrides: dict[str, Any], destroy_at_end: bool
) -> Iterator[DockerStack]:
    """A stack of the working tree's program configured as dev with the images built here, not yet up;
    destroyed (and whatever it left on the engine removed) afterwards."""
    config = dev_config(**stack_overrides)
    with engine_stack(stack_name, None, *PLUGINS, env={"DOCKER_HOST": DOCKER_HOST}) as engine:
        engine.configure(config)
        stack = DockerStack(engine, docker, config)
        try:
            yield stack
        finally:
            try:
                if destroy_at_end:
                    engine.stack.destroy(on_output=lambda _: None)
            finally:
                remove_leftovers(docker, stack.prefix)


def remove_leftovers(docker: Docker, prefix: str, only: Callable[[str], bool] = lambda _: True) -> None:
    """Whatever a failed test or destroy left of a stack on the engine (its names start with `prefix`; of those,
    the ones `only` accepts)."""
    for kind in ("container", "volume", "network"):
        for leftover in filter(only, docker.names(kind, prefix)):
            docker.run(kind, "rm", *(["--force"] if kind == "container" else []), leftover, check=False)


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


def wait_healthy(stack: DockerStack) -> None:
    """Until every container of the stack runs and passes its healthcheck (fails naming those that do not)."""
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while True:
        now = states(stack)
        waiting = {name: state for name, state in now.items() if not state[0] or state[1] not in (None, "healthy")}
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert waiting == {}, f"not running and healthy after {HEALTH_TIMEOUT} s: {waiting}"
