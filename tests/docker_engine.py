"""The project's own Docker engine, as the tests reach it: `scripts/docker-engine` starts it, and every
command goes to its socket through Debian's CLI, never to another daemon a `DOCKER_HOST` may name."""

from __future__ import annotations

import subprocess

from tests.conftest import PROJECT_DIR

DOCKER = "/usr/bin/docker"
DOCKER_HOST = "unix:///var/run/engarde-docker.sock"


def run_docker(
    *args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`docker ARGS` on the project's engine; `env` adds to its (otherwise minimal) environment."""
    return subprocess.run(
        [DOCKER, *args],
        env={"DOCKER_HOST": DOCKER_HOST, "PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
    )


def start_engine() -> str | None:
    """Start the engine unless it runs (`scripts/docker-engine start`): None once it answers, else what failed."""
    started = subprocess.run([str(PROJECT_DIR / "scripts" / "docker-engine"), "start"], capture_output=True, text=True)
    return None if started.returncode == 0 else (started.stderr.strip() or started.stdout.strip())
