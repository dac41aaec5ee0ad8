"""The stack through the real Pulumi engine and providers, against real servers the tests start.

Every server is `external` (no Docker engine for the stack's containers: `runContainers: false`), on
loopback: main and flowdb on one PostgreSQL version per combination, each logging every statement, and
the scheduler on MariaDB 10.5 in a container of the project's Docker engine (tests/e2e/mariadb.py). The
combinations are PostgreSQL 15 with its bootstrap superuser as the stack's admin and PostgreSQL 17 with
a managed-style admin (LOGIN CREATEROLE CREATEDB, owner of the databases).

The mysql provider (hashicorp/terraform-provider-mysql v1.9.0) reads `@@GLOBAL.innodb_version` before
it creates a user or a grant, a variable MariaDB 10.10+ does not have: the host's MariaDB (Debian
bookworm's 10.11) cannot take the scheduler's resources, 10.5 can. One test asserts the failure on
10.11, so the day it changes is seen.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from resource_types import MYSQL_PREFIX
from review.capture.plan import Plan
from review.capture.program import Capture, Resource
from tests.components.urns import EngineUrns, nodes_of
from tests.conftest import cached_run_program
from tests.e2e.engine import EngineStack, Recorder, engine_stack
from tests.e2e.mariadb import mariadb_container
from tests.prerequisites import missing_prerequisite
from tests.realdb.conftest import POSTGRES, Servers, external_config
from tests.realdb.matrix import Combination, stack_admin
from tests.realdb.servers import RunningServer, missing_postgres_build, postgres_server
from topology import Topology, load_topology
from topology.sql import quote_ident

STACK = "dev"
COMBINATIONS = (Combination(15, "superuser"), Combination(17, "managed"))
PLUGINS = ("postgresql", "mysql", "random")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine_servers" in metafunc.fixturenames:
        metafunc.parametrize(
            "engine_servers", COMBINATIONS, indirect=True, ids=[c.id for c in COMBINATIONS], scope="module"
        )


@pytest.fixture(scope="module")
def engine_servers(request: pytest.FixtureRequest) -> Iterator[Servers]:
    """Fresh servers for one module and combination: the stack's databases exist, owned by its admin."""
    combination: Combination = request.param
    missing = missing_postgres_build(combination.version) if combination.version != 15 else None
    if missing:
        missing_prerequisite(f"{combination.id}: PostgreSQL {combination.version}")
    with contextlib.ExitStack() as stack:
        bootstrap = {
            name: stack.enter_context(postgres_server(f"e2e-{name}", version=combination.version, log_statements=True))
            for name in POSTGRES
        }
        admins = {name: stack_admin(server, combination) for name, server in bootstrap.items()}
        for name, database in (("main", "engarde"), ("flowdb", "langflow")):
            with psycopg.connect(bootstrap[name].dsn(), autocommit=True) as connection:
                owner = quote_ident(admins[name].admin_user)
                connection.execute(f"CREATE DATABASE {quote_ident(database)} OWNER {owner}")
        yield Servers(
            main=admins["main"],
            flowdb=admins["flowdb"],
            scheduler=stack.enter_context(mariadb_container("e2e-scheduler")),
            combination=combination,
            superusers=bootstrap,
        )


@dataclass(repr=False)
class Deployed:
    """A stack on the real engine, with what the program registers for its config under the mocks (no repr:
    its config and outputs hold passwords, which a traceback would print)."""

    engine: EngineStack
    servers: Servers
    config: dict[str, Any]
    capture: Capture
    topology: Topology
    outputs: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Deployed({self.engine.name})"

    @property
    def plan(self) -> Plan:
        return Plan(self.capture)

    def bootstrap(self, name: str) -> RunningServer:
        return self.servers.superusers[name]

    def mysql_urns(self) -> list[str]:
        """The engine's URNs of the MySQL resources (the scheduler's database, users and grants)."""
        return mysql_urns_of(self.capture)

    def with_real_outputs(self) -> Capture:
        """The capture with the real stack's outputs (its DSNs hold the real generated passwords)."""
        return dataclasses.replace(self.capture, outputs=self.outputs)

    def engine_urn(self, resource: Resource) -> str:
        return engine_urns(self.capture)[resource.urn]

    def up(self, excluding: Iterable[str] = (), recorder: Recorder | None = None, **options: Any) -> Recorder:
        """`pulumi up` without `excluding` (engine URNs) and their dependents; its steps go to `recorder`
        (a new one if None), also when it fails."""
        recorder = recorder or Recorder()
        excluded = list(excluding)
        try:
            self.engine.stack.up(
                exclude=excluded or None, exclude_dependents=bool(excluded), on_event=recorder, **options
            )
        finally:
            self.outputs = self.engine.outputs()
        return recorder


def mysql_urns_of(capture: Capture) -> list[str]:
    """The engine's URNs of the capture's MySQL resources."""
    urns = engine_urns(capture)
    return [urns[r.urn] for r in capture.resources if r.type.startswith(MYSQL_PREFIX)]


def engine_urns(capture: Capture) -> dict[str, str]:
    """Each resource's URN as the mocks make it -> as the engine does."""
    nodes = nodes_of(capture)
    urns = EngineUrns(nodes)
    return {node.urn: urns.urn(node) for node in nodes}


def program_capture(config: Mapping[str, Any], replaced: tuple[str, ...] = ()) -> Capture:
    secret_keys = tuple(sorted(key for key in config if key.endswith("AdminPassword")))
    return cached_run_program(config, STACK, secret_keys=secret_keys, replaced=replaced)


@contextlib.contextmanager
def deployed_stack(servers: Servers, /, ref: str | None = None, **overrides: Any) -> Iterator[Deployed]:
    """A stack of the program (at `ref`; None: the working tree) configured for `servers`, not yet up."""
    config = external_config(servers, **overrides)
    with engine_stack(STACK, ref, *PLUGINS) as engine:
        engine.configure(config)
        yield Deployed(engine, servers, config, program_capture(config), load_topology(config, STACK))
