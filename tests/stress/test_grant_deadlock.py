"""No deadlock between the provider's grants (components/ordering.py): the stack with 20 extra services, applied
from nothing ten times in a row through the real engine, at the parallelism and connection pool the stack
configures, on PostgreSQL 15 and 17, with a superuser admin and with a managed one (LOGIN CREATEROLE CREATEDB).

Before the one grant chain per server, about one apply in three of these failed with `40P01 could not get
advisory lock for members of role ...`. Each apply starts from the server as a platform hands it over: the
stack's databases, empty, and no role but the admin's. `make stress` (about 20 minutes).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi import automation as auto

from benchmarks.program import services_config
from tests.e2e.conftest import PLUGINS, STACK, mysql_urns_of, program_capture
from tests.e2e.engine import engine_stack
from tests.prerequisites import missing_prerequisite
from tests.realdb.conftest import POSTGRES, Servers, external_config, handed_over_to_the_admin
from tests.realdb.matrix import Combination, stack_admin
from tests.realdb.servers import missing_postgres_build, postgres_server

SERVICES = 20
APPLIES = int(os.environ.get("ENGARDE_STRESS_APPLIES", "10"))
COMBINATIONS = [Combination(version, kind) for version in (15, 17) for kind in ("superuser", "managed")]


@pytest.fixture(scope="module", params=COMBINATIONS, ids=[c.id for c in COMBINATIONS])
def servers(request: pytest.FixtureRequest) -> Iterator[Servers]:
    combination: Combination = request.param
    if combination.version != 15 and missing_postgres_build(combination.version):
        missing_prerequisite(f"{combination.id}: PostgreSQL {combination.version}")
    with contextlib.ExitStack() as stack:
        bootstrap = {name: stack.enter_context(postgres_server(f"stress-{name}", version=combination.version))
                     for name in POSTGRES}  # fmt: skip
        admins = {name: stack_admin(server, combination) for name, server in bootstrap.items()}
        yield Servers(
            main=admins["main"], flowdb=admins["flowdb"], scheduler=None, combination=combination,
            superusers=bootstrap,
        )  # fmt: skip


def config_for(servers: Servers) -> dict[str, Any]:
    config = external_config(servers)
    extra = services_config(SERVICES)
    config["services"] = extra["services"]
    config["servers"]["main"]["maxConnections"] = extra["servers"]["main"]["maxConnections"] + 200
    return config


def test_twenty_services_apply_from_nothing_ten_times_without_a_deadlock(servers: Servers) -> None:
    config = config_for(servers)
    excluded = mysql_urns_of(program_capture(config))
    failures: list[str] = []
    for attempt in range(1, APPLIES + 1):
        handed_over_to_the_admin(servers)
        with engine_stack(STACK, None, *PLUGINS) as engine:  # a new file backend each time
            engine.configure(config)
            try:
                engine.stack.up(exclude=excluded, exclude_dependents=True)
            except auto.CommandError as error:
                lines = [line.strip() for line in str(error).splitlines() if "40P01" in line or "error:" in line]
                failures.append(f"apply {attempt}: {lines[:3]}")
    assert failures == [], failures
