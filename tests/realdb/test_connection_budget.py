"""Connection limits and the pooler on real servers: no service can take another's connections.

Direct: each login role's CONNECTION LIMIT is what config says, and PostgreSQL itself refuses the
(limit + 1)th connection of a service while other services and the admin still connect.
Pooled: Debian's PgBouncer runs the configuration the stack renders in front of a real
PostgreSQL 15; each service's pooled DSN logs in (SCRAM, with the verifier the stack computed)
and lands in its own schema, a pool never grows beyond the role's limit, a client waiting longer
than `poolerQueryWaitTimeout` is refused, and a service cannot log in as another.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from review.capture.program import unwrap_secrets
from tests.prerequisites import missing_prerequisite
from tests.realdb.conftest import Deployment, Servers, admin, deploy, external_config
from tests.realdb.pooler import PGBOUNCER, PGBOUNCER_PACKAGE, pgbouncer
from tests.realdb.server_processes import _free_port
from tests.realdb.servers import postgres_server
from topology.pgbouncer import AUTH_FILE, CONFIG_FILE

# CONNECTION LIMIT and PgBouncer behave alike on every supported version: the first combination runs them.
pytestmark = pytest.mark.postgres_independent

LIMIT = 2
LIMITED = "madansara_user"
LIMITS = {"madan-sara": LIMIT}


def _shared_main(servers: Servers, main: Any, **main_settings: Any) -> dict[str, Any]:
    config = external_config(Servers(main=main, flowdb=main, scheduler=servers.scheduler))
    return {**config["servers"], "main": {**config["servers"]["main"], **main_settings}}


@pytest.fixture(scope="module")
def direct(servers: Servers) -> Iterator[Deployment]:
    with postgres_server("limits") as main:
        yield deploy(Servers(main=main, flowdb=main, scheduler=servers.scheduler), apply_to=("main",),
                     langflowPlacement="shared", connectionLimits=LIMITS)  # fmt: skip


def _count(deployment: Deployment, role: str) -> int:
    with admin(deployment.servers.main, "engarde") as connection:
        row = connection.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,)).fetchone()
    assert row is not None
    return int(row[0])


def test_every_login_role_has_the_configured_connection_limit(direct: Deployment) -> None:
    with admin(direct.servers.main, "engarde") as connection:
        limits = dict(connection.execute("SELECT rolname, rolconnlimit FROM pg_roles WHERE rolcanlogin").fetchall())
    expected = {role.name: role.connection_limit for role in direct.topology.layouts["main"].logins}
    assert expected[LIMITED] == LIMIT and expected["engarde_app"] == 30
    assert {name: limits[name] for name in expected} == expected


def test_one_connection_beyond_the_limit_is_refused_by_postgresql_and_others_still_connect(direct: Deployment) -> None:
    with contextlib.ExitStack() as held:
        for _ in range(LIMIT):
            held.enter_context(direct.connect("main", LIMITED)).execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError, match=f'too many connections for role "{LIMITED}"'):
            direct.connect("main", LIMITED)
        with direct.connect("main", "sankore_user") as other:
            assert other.execute("SELECT current_user").fetchone() == ("sankore_user",)
        with admin(direct.servers.main, "engarde") as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
        assert _count(direct, LIMITED) == LIMIT


# PgBouncer ------------------------------------------------------------------------------------


class Pooled:
    """The stack deployed with `pooler: pgbouncer` on main, and its PgBouncer running."""

    def __init__(self, deployment: Deployment, port: int) -> None:
        self.deployment = deployment
        self.port = port
        services = unwrap_secrets(deployment.capture.outputs["services"])
        self.files: dict[str, str] = services["pgbouncer-main"]["files"]
        self.urls = {
            (service, key): value
            for service, body in services.items()
            for key, value in body["env"].items()
            if isinstance(value, str) and value.startswith("postgresql://")
        }

    def pooled_urls(self) -> dict[tuple[str, str], str]:
        return {key: url for key, url in self.urls.items() if conninfo_to_dict(url)["port"] == str(self.port)}


@pytest.fixture(scope="module")
def pooled(servers: Servers) -> Iterator[Pooled]:
    if not PGBOUNCER.exists():
        missing_prerequisite(f"{PGBOUNCER_PACKAGE} (the pooler tests)")
    port = _free_port()
    with postgres_server("pooled") as main:
        pooler = {"pooler": "pgbouncer", "poolerHost": "127.0.0.1", "poolerPort": port, "poolerQueryWaitTimeout": 1}
        deployment = deploy(
            Servers(main=main, flowdb=main, scheduler=servers.scheduler),
            apply_to=("main",),
            langflowPlacement="shared",
            connectionLimits=LIMITS,
            servers=_shared_main(servers, main, **pooler),
        )
        result = Pooled(deployment, port)
        with pgbouncer(result.files[CONFIG_FILE], result.files[AUTH_FILE], port):
            yield result


def test_auth_file_holds_scram_verifiers_and_no_password(pooled: Pooled) -> None:
    auth_file = pooled.files[AUTH_FILE]
    passwords = {str(conninfo_to_dict(url)["password"]) for url in pooled.urls.values()}
    assert auth_file.count("SCRAM-SHA-256$4096:") == len(pooled.deployment.topology.poolers["main"].users)
    assert not [password for password in passwords if password in auth_file]


def test_each_pooled_dsn_logs_in_to_its_own_schema(pooled: Pooled) -> None:
    urls = pooled.pooled_urls()
    roles = {str(conninfo_to_dict(url)["user"]) for url in urls.values()}
    assert {"engarde_app", "madansara_user", "sankore_user", "langflow_app", "analytics_readonly"} <= roles
    for (service, key), url in urls.items():
        assert "options" not in conninfo_to_dict(url), (service, key)
        role = pooled.deployment.topology.role("main", str(conninfo_to_dict(url)["user"]))
        with psycopg.connect(url) as connection:
            user, schema, path = connection.execute(
                "SELECT current_user, current_schema(), current_setting('search_path')"
            ).fetchone() or ("", "", "")
        assert user == role.name, (service, key)
        if role.search_path:
            assert (schema, path) == (role.search_path[0], ", ".join(role.search_path)), (service, key)
        else:  # reporting and compliance: the server's default path (reporting has no USAGE on public)
            assert path == '"$user", public', (service, key)


def test_a_dsn_whose_search_path_differs_from_its_roles_stays_direct(pooled: Pooled) -> None:
    # Shared placement: backend reads Langflow's schema as engarde_app (role path: public).
    url = pooled.urls[("backend", "LANGFLOW_DATABASE_URL")]
    parsed = conninfo_to_dict(url)
    assert parsed["port"] == str(pooled.deployment.servers.main.port)
    assert parsed["options"] == "-c search_path=langflow"
    exporter = conninfo_to_dict(pooled.urls[("postgres-exporter", "DATA_SOURCE_NAME")])
    assert exporter["port"] == str(pooled.deployment.servers.main.port)


def test_a_pool_never_exceeds_the_role_limit_and_a_waiting_client_is_refused(pooled: Pooled) -> None:
    url = pooled.urls[("madan-sara", "DATABASE_URL")]
    with contextlib.ExitStack() as held:
        for _ in range(LIMIT):
            held.enter_context(psycopg.connect(url)).execute("SELECT 1")
        with (
            pytest.raises(psycopg.OperationalError, match="query_wait_timeout"),
            psycopg.connect(url, connect_timeout=15) as extra,
        ):
            extra.execute("SELECT 1")
        assert _count(pooled.deployment, LIMITED) == LIMIT
        # Another service's pool is untouched.
        with psycopg.connect(pooled.urls[("sankore-paidads", "DATABASE_URL")]) as other:
            assert other.execute("SELECT current_user").fetchone() == ("sankore_user",)


def test_a_service_cannot_log_in_as_another_through_the_pooler(pooled: Pooled) -> None:
    mine = pooled.urls[("madan-sara", "DATABASE_URL")]
    theirs = conninfo_to_dict(pooled.urls[("sankore-paidads", "DATABASE_URL")])
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        psycopg.connect(make_conninfo(mine, user=theirs["user"]))
    # A role the pooler does not serve cannot use it, even with its own password.
    exporter = conninfo_to_dict(pooled.urls[("postgres-exporter", "DATA_SOURCE_NAME")])
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        psycopg.connect(make_conninfo(mine, user=exporter["user"], password=exporter["password"]))
