"""Shared fixtures: the real program captured under Pulumi's mocks, once per configuration.

`cached_run_program` is the one cache of program runs in the session: the fixtures here and the
in-process `review` commands (tests/review/conftest.py) both go through it.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from review.capture.program import Capture, run_program

PROJECT_DIR = Path(__file__).resolve().parent.parent
ADMIN_PASSWORDS = {
    "mainAdminPassword": "main-admin p@ss/word",
    "flowdbAdminPassword": "flowdb-admin p@ss/word",
    "schedulerAdminPassword": "scheduler-admin p@ss/word",
}


def stack_file_config(stack: str) -> dict[str, Any]:
    """The `engarde:` keys of Pulumi.<stack>.yaml, namespace stripped."""
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())
    return {key.split(":", 1)[1]: value for key, value in (document.get("config") or {}).items()}


@functools.cache
def _run_once(stack: str, config_json: str, secret_keys: tuple[str, ...], replaced: tuple[str, ...]) -> Capture:
    return run_program(json.loads(config_json), stack, secret_keys=secret_keys, replaced=replaced)


def cached_run_program(
    config: Mapping[str, Any],
    stack: str,
    *,
    secret_keys: tuple[str, ...] = (),
    program: Path | None = None,
    replaced: tuple[str, ...] = (),
) -> Capture:
    """`run_program`, once per distinct (stack, config, secret keys, replaced URNs) in the session (a run
    takes about a second)."""
    assert program is None
    return _run_once(stack, json.dumps(dict(config), sort_keys=True), tuple(secret_keys), tuple(replaced))


def _capture(stack: str, overrides: tuple[tuple[str, Any], ...]) -> Capture:
    config = stack_file_config(stack)
    config.update(dict(overrides))
    secret_keys = tuple(key for key in config if key.endswith("AdminPassword"))
    return cached_run_program(config, stack, secret_keys=secret_keys)


def capture(stack: str, **overrides: Any) -> Capture:
    """The program run for `stack` with config overrides (cached: a run takes about a second)."""
    frozen = tuple(sorted((k, _freeze(v)) for k, v in overrides.items()))
    return _capture(stack, frozen)


def _freeze(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


@pytest.fixture(scope="session")
def dev() -> Capture:
    return capture("dev")


@pytest.fixture(scope="session")
def prod() -> Capture:
    return capture("prod", **ADMIN_PASSWORDS)


@pytest.fixture(scope="session")
def shared() -> Capture:
    return capture("dev", langflowPlacement="shared")


def with_replicas(stack: str, replicas: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The stack file's `servers`, with these servers' `replicas` set."""
    servers = stack_file_config(stack)["servers"]
    return {
        name: {**body, **({"replicas": replicas[name]} if name in replicas else {})} for name, body in servers.items()
    }


DEV_REPLICAS: dict[str, list[dict[str, Any]]] = {"main": [{}, {"hostPort": 5600}], "flowdb": [{}]}
"""dev with two container replicas of main (the first on its default host port) and one of flowdb."""
PROD_REPLICAS: dict[str, list[dict[str, Any]]] = {"main": [{"host": "postgres-replica.railway.internal"}]}
"""prod with one managed replica of main, declared by host."""


@pytest.fixture(scope="session")
def replicated() -> Capture:
    return capture("dev", servers=with_replicas("dev", DEV_REPLICAS))


@pytest.fixture(scope="session")
def cross_reads() -> Capture:
    """dev with crossDatabaseReads: postgres_fdw on main, reading flowdb."""
    return capture("dev", crossDatabaseReads=True)


@pytest.fixture(scope="session")
def cross_reads_prod() -> Capture:
    """prod (external servers: one provider per server, on its layout's database) with crossDatabaseReads,
    main's admin a superuser (postgres_fdw needs one)."""
    servers = stack_file_config("prod")["servers"]
    servers = {**servers, "main": {**servers["main"], "superuser": True}}
    return capture("prod", crossDatabaseReads=True, servers=servers, **ADMIN_PASSWORDS)


@pytest.fixture(scope="session")
def replicated_prod() -> Capture:
    return capture("prod", servers=with_replicas("prod", PROD_REPLICAS), **ADMIN_PASSWORDS)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many hostile-config cases the property tests tried (for the record, not a check)."""
    topology_cases = getattr(sys.modules.get("tests.topology.test_config_properties"), "CASES", [])
    if topology_cases:
        terminalreporter.write_line(
            f"hostile config: {len(topology_cases)} cases through validation, {topology_cases.count('built')} built"
            f" a safe topology, {topology_cases.count('refused')} refused with the key named"
        )
    cli_cases = getattr(sys.modules.get("tests.realdb.test_hostile"), "CLI_CASES", [])
    if cli_cases:
        terminalreporter.write_line(
            f"hostile config: {len(cli_cases)} cases through `review plan`, {cli_cases.count(0)} rendered,"
            f" {cli_cases.count(2)} exited 2 naming the key"
        )
