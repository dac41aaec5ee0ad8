"""Each server of the layout from its validated config, and the names its servers and poolers take on the
stack's network (a service or another pooler may not take them)."""

from __future__ import annotations

from collections.abc import Mapping

from topology.catalog import SERVER_ENTRIES
from topology.config import ServerConfig, StackConfig
from topology.model import Mode, Server
from topology.names import ConfigError
from topology.pgbouncer import pooler_service_name
from topology.replication import replicas_of


def server_from_config(config: ServerConfig) -> Server:
    """The server a `servers.<name>` entry describes: a container the stack runs, or an existing server."""
    adopt = config.mode is Mode.EXTERNAL and config.engine.value == "postgresql"
    if config.mode is Mode.CONTAINER:
        assert config.host_port is not None and config.image is not None
        internal = 5432 if config.engine.value == "postgresql" else 3306
        return Server(
            name=config.name,
            engine=config.engine,
            mode=config.mode,
            database=config.database,
            adopt_database=False,
            admin_user=config.admin_user,
            provider_host="127.0.0.1",
            provider_port=config.host_port,
            service_host=config.name,
            service_port=internal,
            image=config.image,
            image_version=config.image_version,
            database_owner=SERVER_ENTRIES[config.name].database_owner,
            max_connections=config.max_connections,
            reserved_connections=config.reserved_connections,
            replicas=replicas_of(config.name, config.mode, [(None, None, r.host_port) for r in config.replicas]),
            max_slot_wal_keep_size=config.max_slot_wal_keep_size if config.replicas else None,
        )
    assert config.host is not None and config.port is not None
    return Server(
        name=config.name,
        engine=config.engine,
        mode=config.mode,
        database=config.database,
        adopt_database=adopt,
        admin_user=config.admin_user,
        provider_host=config.host,
        provider_port=config.port,
        service_host=config.host,
        service_port=config.port,
        sslmode=config.sslmode,
        superuser=config.superuser,
        max_connections=config.max_connections,
        max_connections_assumed=config.max_connections_assumed,
        reserved_connections=config.reserved_connections,
        sslrootcert=config.sslrootcert,
        import_database=config.adopt_database,
        character_set=config.character_set,
        collation=config.collation,
        adopt_roles=config.adopt_roles,
        replicas=replicas_of(config.name, config.mode, [(r.host, r.port, None) for r in config.replicas]),
    )


def server_and_pooler_hosts(config: StackConfig, servers: Mapping[str, Server]) -> dict[str, str]:
    """Each server's and enabled pooler's container name (`<network>-<name>`) and network alias ->
    what it names; refuses a pooler alias that is a server container's (its DSNs would reach the
    server). External servers and poolers are reached by host and port: only their names count."""
    hosts: dict[str, str] = {}
    for name, server in servers.items():
        hosts[name] = f"server {name}"
        if server.mode is Mode.CONTAINER:
            hosts[server.service_host] = f"server {name}"
    for name, server_config in config.servers.items():
        if server_config.pooler == "none" or server_config.pooler_host is None:
            continue
        hosts[pooler_service_name(name)] = f"the pooler of server {name}"
        if not config.run_containers:
            continue
        host = server_config.pooler_host
        if host in hosts:
            raise ConfigError(
                f"servers.{name}.poolerHost",
                f"{host!r} is the container name or network alias of {hosts[host]}: choose another",
            )
        hosts[host] = f"the pooler of server {name}"
    return hosts


def check_pooler_aliases(config: StackConfig, containers: set[str]) -> None:
    """A pooler's network alias may not be another container's name on the network (a service, Redis, a
    replica): two containers answering to one alias, the DSNs would reach either."""
    if not config.run_containers:
        return
    for name, server_config in config.servers.items():
        host = server_config.pooler_host
        if server_config.pooler != "none" and host in containers - {pooler_service_name(name)}:
            raise ConfigError(
                f"servers.{name}.poolerHost",
                f"{host!r} is the network alias of the {host} container: choose another",
            )
