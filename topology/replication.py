"""Streaming replication as plain values: what a container primary with replicas runs (its `-c`
settings and pg_hba.conf), the command each replica container bootstraps and starts with, and which
hosts each PostgreSQL DSN lists.

A replica is a hot standby of its primary's image: on an empty volume it takes a base backup with
`pg_basebackup` through a physical replication slot of its own (a stack resource on the primary, so
removing the replica drops its slot) and `--write-recovery-conf`, then starts; on a volume that holds
a data directory it starts as it is and catches up from its slot. The primary keeps at most
`max_slot_wal_keep_size` of WAL for a slot, so a dead replica cannot fill the primary's disk (it then
needs a new base backup: remove its volume).
"""

from __future__ import annotations

from dataclasses import dataclass

from topology.catalog import REPLICATOR
from topology.model import Mode, PostgresUrl, Replica, Server, Topology
from topology.sql import quote_literal

HBA_FILE = "/etc/engarde/pg_hba.conf"
"""Where a container primary with replicas reads its pg_hba.conf (uploaded into the container)."""
REPLICA_VOLUME_PATH = "/var/lib/postgresql"
"""Where a replica's volume is mounted: the postgres user's home in every official image, which it owns."""
REPLICA_PGDATA = f"{REPLICA_VOLUME_PATH}/standby"
PRIMARY_HOST_VARIABLE = "ENGARDE_PRIMARY_HOST"
PRIMARY_PORT_VARIABLE = "ENGARDE_PRIMARY_PORT"


def server_settings(server: Server) -> list[str]:
    """The `-c name=value` settings a PostgreSQL container runs with, primary or replica."""
    settings = [
        f"max_connections={server.max_connections}",
        f"superuser_reserved_connections={server.reserved_connections}",
    ]
    return settings


def primary_settings(server: Server) -> list[str]:
    """Settings of a container primary: its own, and with container replicas the replication ones."""
    settings = server_settings(server)
    if server.streams_to_containers:
        settings += [
            f"hba_file={HBA_FILE}",
            "wal_level=replica",
            f"max_slot_wal_keep_size={server.max_slot_wal_keep_size}",
        ]
    return settings


def render_hba(replicas_network: str) -> str:
    """pg_hba.conf of a container primary with replicas: replication only for the replicator role from
    the replicas' network (the Docker network's subnet), SCRAM for everything else."""
    return (
        "# TYPE  DATABASE     USER                 ADDRESS          METHOD\n"
        "# The image's entrypoint initialises the database over the container's own socket.\n"
        "local   all          all                                   trust\n"
        f"host    replication  {REPLICATOR:<20} {replicas_network:<16} scram-sha-256\n"
        "host    all          all                  all              scram-sha-256\n"
    )


def bootstrap_script(replica: Replica, server: Server) -> str:
    """What a replica container runs as the postgres user (`sh -c <script> replica [postgres args]`):
    a base backup through its slot when `$PGDATA` holds no data directory, then the standby itself.

    `PGPASSWORD` (the replicator's password) reaches pg_basebackup and, through the standby's
    environment, its WAL receiver; the password `--write-recovery-conf` writes into
    `primary_conninfo` is removed, so no file on the volume holds it (generated passwords hold no
    quote, backslash or space: the `sed` pattern is exact)."""
    settings = " ".join(f"-c {setting}" for setting in ["hot_standby=on", *server_settings(server)])
    return (
        "set -eu\n"
        'if [ ! -s "$PGDATA/PG_VERSION" ]; then\n'
        '  rm -rf "$PGDATA"\n'
        f'  pg_basebackup --pgdata="$PGDATA" --host="${PRIMARY_HOST_VARIABLE}" --port="${PRIMARY_PORT_VARIABLE}"'
        f" --username={REPLICATOR} --no-password --slot={replica.slot} --wal-method=stream"
        " --write-recovery-conf --checkpoint=fast\n"
        # libpq quotes a value with specials: password=''...'' inside the setting's own quotes.
        "  sed -E -i \"s/ password=(''[^']*''|[^ ']*)//\" \"$PGDATA/postgresql.auto.conf\"\n"
        "fi\n"
        f'exec postgres -D "$PGDATA" {settings} "$@"\n'
    )


def replicator_connection_limit(server: Server) -> int:
    """Two connections per replica: a bootstrapping one holds a base backup and a WAL stream."""
    return 2 * len(server.replicas)


def replicas_of(
    name: str, mode: Mode, endpoints: list[tuple[str | None, int | None, int | None]]
) -> tuple[Replica, ...]:
    """The replicas of server `name`: (host, port, host port) each, as config gives them."""
    replicas = []
    for i, (host, port, host_port) in enumerate(endpoints, start=1):
        replica_name = f"{name}-replica-{i}"
        if mode is Mode.CONTAINER:
            replicas.append(Replica(name, replica_name, mode, replica_name, 5432, host_port=host_port))
        else:
            assert host is not None and port is not None
            replicas.append(Replica(name, replica_name, mode, host, port))
    return tuple(replicas)


@dataclass(frozen=True)
class Route:
    """Where one DSN goes: the hosts libpq tries, in order, and how it picks one."""

    hosts: tuple[tuple[str, int], ...]
    """(host, port) pairs; libpq tries them in this order (or at random with `load_balance_hosts`)."""
    target_session_attrs: str | None = None
    """`prefer-standby`: a replica when one is up, else the primary."""
    load_balance_hosts: str | None = None
    """`random` with two replicas or more (libpq 16+): connections spread over them."""

    @property
    def endpoints(self) -> list[str]:
        return [f"{host}:{port}" for host, port in self.hosts]


def route(value: PostgresUrl, topology: Topology) -> Route:
    """The hosts a DSN lists: the pooler, one replica, the replicas then the primary (a reader's), or
    the primary. Writers never list a replica."""
    server = topology.servers[value.server]
    if value.pooled:
        pooler = topology.poolers[value.server]
        return Route(((pooler.host, pooler.port),))
    if value.replica is not None:
        replica = next(r for r in server.replicas if r.name == value.replica)
        return Route(((replica.host, replica.port),))
    primary = (server.service_host, server.service_port)
    if value.read_only and server.replicas:
        replicas = tuple((r.host, r.port) for r in server.replicas)
        return Route(
            (*replicas, primary),
            target_session_attrs="prefer-standby",
            load_balance_hosts="random" if len(replicas) > 1 else None,
        )
    return Route((primary,))


def dsn_routes(topology: Topology) -> list[dict[str, object]]:
    """Every PostgreSQL DSN a service is handed and where it goes (no secret): the `dsnRoutes` output."""
    routes: list[dict[str, object]] = []
    for service in topology.services:
        for key, value in service.env.items():
            if not isinstance(value, PostgresUrl):
                continue
            found = route(value, topology)
            entry: dict[str, object] = {
                "service": service.name,
                "variable": key,
                "server": value.server,
                "role": value.role,
                "hosts": found.endpoints,
                "via": _via(value, found),
            }
            if found.target_session_attrs:
                entry["targetSessionAttrs"] = found.target_session_attrs
            if found.load_balance_hosts:
                entry["loadBalanceHosts"] = found.load_balance_hosts
            routes.append(entry)
    return routes


def _via(value: PostgresUrl, found: Route) -> str:
    if value.pooled:
        return "pooler"
    if value.replica is not None:
        return "replica"
    return "replicas" if found.target_session_attrs else "primary"


def replication_slots_sql(server: Server) -> str:
    """The physical slots of a primary's container replicas, as a SQL list (the exporter's query)."""
    return ", ".join(quote_literal(r.slot) for r in server.replicas)
