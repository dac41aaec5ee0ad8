"""The catalog: each server and service is one entry, and every config key it implies is derived from it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN_PASSWORDS, stack_file_config
from topology import ConfigError, load_topology
from topology.catalog import (
    BUILTIN_CONNECTION_LIMITS,
    DEFAULT_IMAGES,
    ENGARDE_APPS,
    LIMIT_KEYS,
    SERVERS,
)
from topology.config import ADMIN_PASSWORD_KEYS, parse_config


def test_every_app_has_its_image_and_connection_limit_keys_and_its_containers_in_the_layout() -> None:
    topology = load_topology(stack_file_config("dev"), "dev")
    services = {s.name: s for s in topology.services}
    for app in ENGARDE_APPS:
        assert DEFAULT_IMAGES[app.service] == app.image
        assert BUILTIN_CONNECTION_LIMITS[app.service] == app.connection_limit
        assert topology.role("main", app.role).limit_key == f"connectionLimits.{app.service}"
        assert [services[c].image for c in app.containers] == [app.image] * len(app.containers)
        assert any(s.name == app.schema and s.owner == app.role for s in topology.layouts["main"].schemas)


def test_every_login_role_of_the_layout_has_a_connection_limit_key() -> None:
    for placement in ("dedicated", "shared"):
        topology = load_topology(stack_file_config("dev") | {"langflowPlacement": placement}, "dev")
        for role in topology.roles:
            if role.login:
                assert role.name in LIMIT_KEYS, role.name


def test_servers_of_the_config_are_the_catalog_servers() -> None:
    config = parse_config({})
    assert list(config.servers) == [entry.name for entry in SERVERS]
    assert set(ADMIN_PASSWORD_KEYS.values()) == {entry.name for entry in SERVERS}
    shared = parse_config({"langflowPlacement": "shared"})
    assert list(shared.servers) == [entry.name for entry in SERVERS if not entry.dedicated_to_langflow]


@pytest.mark.parametrize(
    "name", ["backend", "backend-copy", "langflow-server", "redis", "postgres-exporter-flowdb", "pgbouncer-main",
             "backup-scheduler", "reporting", "compliance"],
)  # fmt: skip
def test_a_configured_service_cannot_take_a_name_the_layout_uses(name: str) -> None:
    config = stack_file_config("dev") | {"services": {name: {"image": "example/app:1.0", "schema": "extra"}}}
    with pytest.raises(ConfigError, match=f"engarde:services.{name}: is already a service of the layout"):
        load_topology(config, "dev")


@pytest.mark.parametrize(
    ("name", "servers", "named"),
    [
        ("main", {}, "server main"),
        ("flowdb", {}, "server flowdb"),
        ("scheduler", {}, "server scheduler"),
        ("main-pgbouncer", {"main": {"pooler": "pgbouncer"}}, "the pooler of server main"),
        ("main-pool", {"main": {"pooler": "pgbouncer", "poolerHost": "main-pool"}}, "the pooler of server main"),
    ],
)
def test_a_configured_service_cannot_take_a_servers_or_poolers_container_name_or_alias(
    name: str, servers: dict[str, Any], named: str
) -> None:
    config = stack_file_config("dev") | {"services": {name: {"image": "example/app:1.0", "schema": "extra"}}}
    if servers:
        config["servers"] = servers
    with pytest.raises(
        ConfigError, match=f"engarde:services.{name}: is the container name or network alias of {named}"
    ):
        load_topology(config, "dev")


@pytest.mark.parametrize("host", ["main", "flowdb"])
def test_a_poolers_alias_cannot_be_a_server_containers(host: str) -> None:
    config = stack_file_config("dev") | {"servers": {"main": {"pooler": "pgbouncer", "poolerHost": host}}}
    with pytest.raises(ConfigError, match=f"engarde:servers.main.poolerHost: '{host}' is the container name"):
        load_topology(config, "dev")


def test_an_external_pooler_may_share_its_servers_host() -> None:
    config = stack_file_config("prod") | ADMIN_PASSWORDS
    main = config["servers"]["main"]
    main.update(pooler="pgbouncer", poolerHost=main["host"])
    pooler = load_topology(config, "prod").poolers["main"]
    assert (pooler.host, pooler.port) == (main["host"], 6432)
