"""`servers.<name>.version` and `adminGrantsPgMonitor`: what a non-superuser admin cannot grant is refused at
plan time, with one line naming the key and what to do (the real servers' side: tests/realdb/test_admin_grants.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.realdb.matrix import VERSIONS
from topology import ConfigError, load_topology
from topology.capabilities import POSTGRES_VERSIONS

PASSWORDS = {"mainAdminPassword": "pw", "flowdbAdminPassword": "pw"}


def external(**admin: Any) -> dict[str, Any]:
    server = {"mode": "external", "host": "db.example.internal", "maxConnections": 200, **admin}
    return {"servers": {"main": server, "flowdb": {**server, "host": "flowdb.example.internal"}}, **PASSWORDS}


def refusal(config: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ConfigError) as error:
        load_topology(config, "dev")
    message = str(error.value)
    assert "\n" not in message
    return error.value.key, message


@pytest.mark.parametrize("version", [16, 17, 18])
def test_non_superuser_on_16_and_later_must_hold_pg_monitor_with_admin_option(version: int) -> None:
    key, message = refusal(external(superuser=False, version=version))
    assert key == "servers.main.adminGrantsPgMonitor"
    assert "GRANT pg_monitor TO postgres WITH ADMIN OPTION" in message
    key, message = refusal(external(superuser=False, version=version, adminGrantsPgMonitor=True))
    assert key == "servers.main.adminGrantsPgReadAllData"
    assert "GRANT pg_read_all_data TO postgres WITH ADMIN OPTION" in message
    both = {"adminGrantsPgMonitor": True, "adminGrantsPgReadAllData": True}
    topology = load_topology(external(superuser=False, version=version, **both), "dev")
    assert [r.name for r in topology.roles if "pg_monitor" in r.member_of] == ["engarde_monitor", "engarde_monitor"]
    assert [r.name for r in topology.roles if "pg_read_all_data" in r.member_of] == ["engarde_backup"] * 2


def test_createrole_grants_pg_monitor_on_15() -> None:
    load_topology(external(superuser=False, version=15), "dev")


def test_a_superuser_needs_neither_key() -> None:
    load_topology(external(superuser=True), "dev")
    load_topology(external(superuser=True, version=18), "dev")


def test_non_superuser_must_name_the_version() -> None:
    key, message = refusal(external(superuser=False))
    assert key == "servers.main.version"
    assert "15, 16, 17, 18" in message
    # `superuser` defaults to false for external servers.
    assert refusal(external())[0] == "servers.main.version"


def test_each_server_is_checked_on_its_own() -> None:
    config = external(superuser=False, version=17, adminGrantsPgMonitor=True, adminGrantsPgReadAllData=True)
    config["servers"]["flowdb"] = {**config["servers"]["flowdb"], "adminGrantsPgMonitor": False}
    assert refusal(config)[0] == "servers.flowdb.adminGrantsPgMonitor"
    # Shared placement has no flowdb: its settings are not read.
    load_topology({**config, "langflowPlacement": "shared"}, "dev")


@pytest.mark.parametrize(
    ("server", "key", "value", "expected"),
    [
        ("main", "version", 14, "must be one of 15, 16, 17, 18 (got 14)"),
        ("main", "version", "seventeen", "must be an integer"),
        ("main", "adminGrantsPgMonitor", "yes", "must be true or false"),
        ("scheduler", "version", 8, "applies to PostgreSQL servers only"),
        ("scheduler", "adminGrantsPgMonitor", True, "applies to PostgreSQL servers only"),
    ],
)
def test_bad_values_name_the_key(server: str, key: str, value: Any, expected: str) -> None:
    config = external(superuser=True)
    config["servers"][server] = {**config["servers"].get(server, {"mode": "external", "host": "h"}), key: value}
    config["schedulerAdminPassword"] = "pw"
    found_key, message = refusal(config)
    assert found_key == f"servers.{server}.{key}" and expected in message, message


def test_container_servers_ignore_them() -> None:
    load_topology({"servers": {"main": {"mode": "container", "version": 14, "adminGrantsPgMonitor": "x"}}}, "dev")


def test_the_accepted_versions_are_the_ones_the_real_server_matrix_covers() -> None:
    assert POSTGRES_VERSIONS == VERSIONS
