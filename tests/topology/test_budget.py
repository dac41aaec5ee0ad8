"""Connection limits per login role, the per-server budget, and which DSNs go through the pooler."""

from __future__ import annotations

from typing import Any

import pytest

from topology import ConfigError, load_topology
from topology.budget import ADMIN_CONNECTIONS, connection_budgets
from topology.model import PostgresUrl
from topology.pgbouncer import render_ini

POOLED_MAIN = {"servers": {"main": {"pooler": "pgbouncer"}}}


def _budget_rows(config: dict[str, Any], server: str = "main") -> dict[str, int]:
    budget = connection_budgets(load_topology(config, "dev"))[server]
    return {line.key or "admin": line.connections for line in budget.lines}


def test_every_login_role_has_a_limit_named_by_its_config_key() -> None:
    topology = load_topology({"services": {"billing": {"image": "x/billing:1.0"}}}, "dev")
    limits = {(r.server, r.name): (r.limit_key, r.connection_limit) for r in topology.roles if r.login}
    assert limits[("main", "engarde_app")] == ("connectionLimits.backend", 30)
    assert limits[("main", "madansara_user")] == ("connectionLimits.madan-sara", 15)
    assert limits[("main", "billing_user")] == ("services.billing.connectionLimit", 15)
    assert limits[("flowdb", "langflow_app")] == ("connectionLimits.langflow-server", 15)
    assert limits[("main", "analytics_readonly")] == ("connectionLimits.reporting", 5)
    assert limits[("flowdb", "audit_user")] == ("connectionLimits.compliance", 3)
    assert limits[("main", "engarde_monitor")] == ("connectionLimits.monitor", 3)
    assert all(limit > 0 for _key, limit in limits.values())
    assert all(r.connection_limit == -1 for r in topology.roles if not r.login)


def test_dev_budget_adds_limits_admin_and_reserved_connections() -> None:
    budgets = connection_budgets(load_topology({}, "dev"))
    assert (budgets["main"].max_connections, budgets["main"].used, budgets["main"].headroom) == (200, 116, 84)
    assert (budgets["flowdb"].max_connections, budgets["flowdb"].used) == (200, 36)
    rows = _budget_rows({})
    assert rows["admin"] == ADMIN_CONNECTIONS and rows["servers.main.reservedConnections"] == 3


def test_configured_limits_change_the_role_and_the_budget() -> None:
    config = {
        "connectionLimits": {"backend": 10, "monitor": 1},
        "services": {"b": {"image": "x/b:1", "connectionLimit": 7}},
    }
    topology = load_topology(config, "dev")
    assert topology.role("main", "engarde_app").connection_limit == 10
    assert topology.role("flowdb", "engarde_monitor").connection_limit == 1
    assert _budget_rows(config)["services.b.connectionLimit"] == 7
    assert connection_budgets(topology)["main"].used == 116 - 20 - 2 + 7


def test_over_budget_is_refused_with_one_line_naming_the_keys_and_numbers() -> None:
    config = {"services": {"billing": {"image": "x/billing:1.0", "connectionLimit": 90}}}
    with pytest.raises(ConfigError) as error:
        load_topology(config, "dev")
    message = str(error.value)
    assert error.value.key == "servers.main.maxConnections"
    assert "\n" not in message
    assert "200 does not fit the connection budget of 206" in message
    assert "services.billing.connectionLimit=90" in message and "connectionLimits.backend=30" in message
    assert "servers.main.reservedConnections=3" in message and "admin=5" in message
    load_topology({**config, "servers": {"main": {"maxConnections": 206}}}, "dev")


def test_an_external_server_is_checked_against_its_declared_max_connections() -> None:
    external = {"mode": "external", "host": "db.internal", "version": 15}
    assumed = r"servers\.main\.maxConnections: 100 \(not declared: .*\) does not fit .* of 116"
    with pytest.raises(ConfigError, match=assumed):
        load_topology({"servers": {"main": external}, "mainAdminPassword": "x"}, "prod")
    topology = load_topology(
        {"servers": {"main": {**external, "maxConnections": 116}}, "mainAdminPassword": "x"}, "prod"
    )
    assert connection_budgets(topology)["main"].headroom == 0


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"connectionLimits": {"billing": 3}}, "connectionLimits.billing"),
        ({"connectionLimits": {"backend": 0}}, "connectionLimits.backend"),
        ({"connectionLimits": {"monitor": -1}}, "connectionLimits.monitor"),
        ({"services": {"b": {"image": "x/b:1", "connectionLimit": "many"}}}, "services.b.connectionLimit"),
        ({"services": {"b": {"image": "x/b:1", "poolMode": "statement"}}}, "services.b.poolMode"),
        ({"servers": {"main": {"pooler": "odyssey"}}}, "servers.main.pooler"),
        ({"servers": {"main": {"maxConnections": 0}}}, "servers.main.maxConnections"),
        ({"servers": {"main": {"poolerHost": "a/b"}}}, "servers.main.poolerHost"),
        ({"servers": {"scheduler": {"maxConnections": 500}}}, "servers.scheduler.maxConnections"),
        ({"servers": {"scheduler": {"pooler": "pgbouncer"}}}, "servers.scheduler.pooler"),
    ],
)
def test_bad_connection_settings_name_the_key(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_topology(config, "dev")
    assert error.value.key == key


def test_pooled_dsns_are_the_services_except_the_exporter_and_a_path_the_role_does_not_have() -> None:
    topology = load_topology({**POOLED_MAIN, "langflowPlacement": "shared"}, "dev")
    urls = {
        (service.name, key): value
        for service in topology.services
        for key, value in service.env.items()
        if isinstance(value, PostgresUrl)
    }
    assert urls[("madan-sara", "DATABASE_URL")].pooled
    assert urls[("backend", "DATABASE_URL")].pooled
    assert urls[("langflow-server", "LANGFLOW_DATABASE_URL")].pooled
    assert urls[("reporting", "DATABASE_URL")].pooled
    assert not urls[("postgres-exporter", "DATA_SOURCE_NAME")].pooled
    # engarde_app's role path is `public`: reading Langflow's schema needs the URL's own path.
    assert not urls[("backend", "LANGFLOW_DATABASE_URL")].pooled
    users = {user.role for user in topology.poolers["main"].users}
    assert "engarde_monitor" not in users and {"engarde_app", "madansara_user", "langflow_app"} <= users


def test_no_pooler_means_every_dsn_is_direct() -> None:
    topology = load_topology({}, "dev")
    assert topology.poolers == {}
    assert not [v for s in topology.services for v in s.env.values() if isinstance(v, PostgresUrl) and v.pooled]


def test_pgbouncer_pools_are_sized_from_the_limits_and_session_by_default() -> None:
    config = {
        **POOLED_MAIN,
        "connectionLimits": {"onside": 4},
        "services": {"billing": {"image": "x/billing:1", "poolMode": "transaction", "connectionLimit": 6}},
    }
    topology = load_topology(config, "dev")
    ini = render_ini(topology.poolers["main"], topology.servers["main"])
    assert "engarde = host=main port=5432 dbname=engarde\n" in ini
    assert "onside_user = pool_mode=session max_user_connections=4\n" in ini
    assert "billing_user = pool_mode=transaction max_user_connections=6\n" in ini
    assert "engarde_app = pool_mode=session max_user_connections=30\n" in ini
    assert "\npool_mode = session\n" in ini and "\nauth_type = scram-sha-256\n" in ini
    assert "\ndefault_pool_size = 30\n" in ini and "\nreserve_pool_size = 0\n" in ini
    pooled = sum(user.pool_size for user in topology.poolers["main"].users)
    assert f"\nmax_db_connections = {pooled}\n" in ini
    assert "password" not in ini.lower()


def test_pooler_to_an_external_server_uses_its_tls_mode() -> None:
    main = {
        "mode": "external",
        "host": "db.internal",
        "version": 15,
        "maxConnections": 200,
        "sslmode": "verify-full",
        "sslrootcert": "/etc/engarde/db-ca.pem",
    }
    topology = load_topology(
        {"servers": {"main": {**main, "pooler": "pgbouncer", "poolerHost": "pool.internal"}}, "mainAdminPassword": "x"},
        "prod",
    )
    ini = render_ini(topology.poolers["main"], topology.servers["main"])
    assert "\n[databases]\nrailway = host=db.internal port=5432 dbname=railway\n" in ini
    assert "\nserver_tls_sslmode = verify-full\nserver_tls_ca_file = /etc/engarde/db-ca.pem\n" in ini
    assert topology.poolers["main"].host == "pool.internal"
