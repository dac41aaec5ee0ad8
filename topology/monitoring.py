"""Monitoring as plain values: the exporters' custom queries and the Prometheus alert rules, both
derived from the topology.

Prometheus is expected to scrape each `postgres-exporter*` service as job `<service name>`, and
node_exporter's textfile collector to read the backup jobs' `metrics/*.prom` (job label irrelevant).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from topology.backups import LAST_SUCCESS_METRIC
from topology.catalog import DEFAULT_SERVICE_CONNECTION_LIMIT
from topology.model import Engine, Placement, PostgresUrl, Role, Server, Text, Topology
from topology.sql import quote_literal

EXPORTER_QUERIES_PATH = "/etc/postgres-exporter/queries.yaml"
"""Connections a login role may hold when the topology sets no limit of its own."""
CONNECTIONS_WARNING_RATIO = 0.8
BACKUP_GRACE_RATIO = 1.5
"""A backup is late once its age passes 1.5 intervals: one run missed, with half an interval of slack."""
DISK_GROWTH_RATIO = 0.2
"""A database that grew by more than 20% in a day (and is over DISK_GROWTH_MIN_BYTES) is reported."""
DISK_GROWTH_MIN_BYTES = 1024**3
LANGFLOW_HIGH_WRITE_TABLES = ("message", "transaction", "vertex_build")
"""Langflow tables written on every flow run: where dead tuples pile up first."""

REPLICA_LAG_WARNING_SECONDS = 60
"""A replica whose last replayed transaction is a minute old while WAL waits to be replayed: reports read stale data."""
SLOT_RETAINED_WARNING_RATIO = 0.5
"""A slot holding half of `max_slot_wal_keep_size`: past the whole, the primary drops the replica's WAL."""

ROLE_CONNECTIONS = "engarde_role_connections"
REPLICA = "engarde_replica"
REPLICATION_SLOT = "engarde_replication_slot"
SCHEMA_SIZE = "engarde_schema"
LANGFLOW_TUPLES = "engarde_langflow_tuples"


def connection_limit(role: Role) -> int:
    """The connection limit of a login role: the topology's own when it sets one, else the default."""
    limit = getattr(role, "connection_limit", None)
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        return limit
    return DEFAULT_SERVICE_CONNECTION_LIMIT


def exporter_service_of(topology: Topology, server: str, replica: str | None = None) -> str:
    if replica is not None:
        return f"postgres-exporter-{replica}"
    return "postgres-exporter" if server == "main" else f"postgres-exporter-{server}"


def wal_size_bytes(size: str) -> int:
    """`10GB` / `512MB` (PostgreSQL's units: powers of 1024) in bytes."""
    power = {"MB": 2, "GB": 3}[size[-2:]]
    return int(size[:-2]) * int(1024**power)


def _in_list(values: list[str]) -> str:
    return ", ".join(quote_literal(v) for v in values)


def _langflow_schema(topology: Topology, server: str) -> str | None:
    if topology.placement is Placement.SHARED:
        return "langflow" if server == "main" else None
    return "public" if server == "flowdb" else None


def exporter_queries(topology: Topology, server: str, replica: str | None = None) -> dict[str, Any]:
    """postgres_exporter's `--extend.query-path` content for `server`, or for one of its replicas
    (catalog and statistics views only: the monitor role reads no table of any schema)."""
    logins = [r.name for r in topology.layouts[server].logins]
    schemas = [s.name for s in topology.layouts[server].schemas]
    queries: dict[str, Any] = {
        ROLE_CONNECTIONS: {
            "query": (
                'SELECT r.rolname AS role, count(a.pid) AS in_use, r.rolconnlimit AS "limit"'
                " FROM pg_catalog.pg_roles r LEFT JOIN pg_catalog.pg_stat_activity a ON a.usesysid = r.oid"
                f" WHERE r.rolname IN ({_in_list(logins)}) GROUP BY r.rolname, r.rolconnlimit"
            ),
            "master": True,
            "metrics": [
                {"role": {"usage": "LABEL", "description": "Login role"}},
                {"in_use": {"usage": "GAUGE", "description": "Connections the role holds now"}},
                {"limit": {"usage": "GAUGE", "description": "The role's CONNECTION LIMIT (-1: none)"}},
            ],
        },
        SCHEMA_SIZE: {
            "query": (
                "SELECT n.nspname AS schema, coalesce(sum(pg_catalog.pg_total_relation_size(c.oid)), 0) AS size_bytes"
                " FROM pg_catalog.pg_namespace n LEFT JOIN pg_catalog.pg_class c"
                " ON c.relnamespace = n.oid AND c.relkind IN ('r', 'm', 'p')"
                f" WHERE n.nspname IN ({_in_list(schemas)}) GROUP BY n.nspname"
            ),
            "master": True,
            "metrics": [
                {"schema": {"usage": "LABEL", "description": "Schema"}},
                {"size_bytes": {"usage": "GAUGE", "description": "Tables, indexes and TOAST of the schema"}},
            ],
        },
    }
    spec = topology.servers[server]
    if replica is not None:
        # Lag counts only while WAL waits to be replayed: an idle primary sends nothing, and that is no lag.
        queries[REPLICA] = {
            "query": (
                "SELECT CASE WHEN pg_catalog.pg_last_wal_receive_lsn() IS NULL"
                " OR pg_catalog.pg_last_wal_receive_lsn() <= pg_catalog.pg_last_wal_replay_lsn() THEN 0"
                " ELSE GREATEST(0, EXTRACT(EPOCH FROM now() - pg_catalog.pg_last_xact_replay_timestamp())) END"
                " AS lag_seconds,"
                " (SELECT count(*) FROM pg_catalog.pg_stat_wal_receiver WHERE status = 'streaming') AS streaming"
            ),
            "master": True,
            "metrics": [
                {
                    "lag_seconds": {
                        "usage": "GAUGE",
                        "description": "Age of the last replayed transaction while WAL waits",
                    }
                },
                {"streaming": {"usage": "GAUGE", "description": "1 while the WAL receiver streams from the primary"}},
            ],
        }
    elif spec.streams_to_containers:
        queries[REPLICATION_SLOT] = {
            "query": (
                "SELECT slot_name AS slot, active::int AS active,"
                " COALESCE(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn), 0)"
                " AS retained_bytes FROM pg_catalog.pg_replication_slots"
                f" WHERE slot_type = 'physical' AND slot_name IN ({_in_list([r.slot for r in spec.replicas])})"
            ),
            "master": True,
            "metrics": [
                {"slot": {"usage": "LABEL", "description": "Physical replication slot of a replica"}},
                {"active": {"usage": "GAUGE", "description": "1 while its replica streams through it"}},
                {"retained_bytes": {"usage": "GAUGE", "description": "WAL the slot holds on the primary"}},
            ],
        }
    langflow = _langflow_schema(topology, server)
    if langflow is not None:
        queries[LANGFLOW_TUPLES] = {
            "query": (
                'SELECT relname AS "table", n_live_tup AS live, n_dead_tup AS dead'
                f" FROM pg_catalog.pg_stat_user_tables WHERE schemaname = {quote_literal(langflow)}"
                f" AND relname IN ({_in_list(list(LANGFLOW_HIGH_WRITE_TABLES))})"
            ),
            "master": True,
            "metrics": [
                {"table": {"usage": "LABEL", "description": "Langflow table"}},
                {"live": {"usage": "GAUGE", "description": "Estimated live rows"}},
                {"dead": {"usage": "GAUGE", "description": "Dead rows not yet vacuumed"}},
            ],
        }
    return queries


def with_exporter_queries(topology: Topology) -> Topology:
    """Each exporter service gets its server's queries as a file and the setting that loads it."""
    services = []
    for service in topology.services:
        url = service.env.get("DATA_SOURCE_NAME")
        if service.name.startswith("postgres-exporter") and isinstance(url, PostgresUrl):
            queries = json.dumps(exporter_queries(topology, url.server, url.replica), indent=2) + "\n"  # JSON is YAML
            service = dataclasses.replace(
                service,
                env={**service.env, "PG_EXPORTER_EXTEND_QUERY_PATH": Text(EXPORTER_QUERIES_PATH)},
                files={**service.files, EXPORTER_QUERIES_PATH: queries},
            )
        services.append(service)
    return dataclasses.replace(topology, services=tuple(services))


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _service_logins(topology: Topology) -> list[tuple[str, str]]:
    """(server, login role) of every PostgreSQL DSN a service is handed, in service order."""
    found = [
        (value.server, value.role)
        for service in topology.services
        for value in service.env.values()
        if isinstance(value, PostgresUrl)
    ]
    order = list(topology.servers)
    return sorted(dict.fromkeys(found), key=lambda login: order.index(login[0]))


def _replication_rules(topology: Topology, spec: Server) -> list[dict[str, Any]]:
    """Each replica lagging or not streaming (its own exporter), and each slot inactive or holding too
    much WAL (the primary's exporter: it sees a replica that is down altogether)."""
    rules: list[dict[str, Any]] = []
    for replica in spec.replicas:
        job = exporter_service_of(topology, spec.name, replica.name)
        labels = {"server": spec.name, "replica": replica.name}
        rules += [
            {
                "alert": "EngardeReplicaNotStreaming",
                "expr": f'{REPLICA}_streaming{{job="{job}"}} == 0',
                "for": "2m",
                "labels": {"severity": "critical", **labels},
                "annotations": {
                    "summary": f"{replica.name} does not stream from {spec.name}",
                    "description": "Readers that reach it read data that no longer changes; its log says why.",
                },
            },
            {
                "alert": "EngardeReplicaLagging",
                "expr": f'{REPLICA}_lag_seconds{{job="{job}"}} > {REPLICA_LAG_WARNING_SECONDS}',
                "for": "5m",
                "labels": {"severity": "warning", **labels},
                "annotations": {
                    "summary": f"{replica.name} replays {spec.name}'s WAL late",
                    "description": "Its last replayed transaction is {{ $value | humanizeDuration }} old.",
                },
            },
        ]
    if not spec.streams_to_containers:
        return rules
    primary_job = exporter_service_of(topology, spec.name)
    assert spec.max_slot_wal_keep_size is not None
    limit = wal_size_bytes(spec.max_slot_wal_keep_size)
    for replica in spec.replicas:
        series = f'{REPLICATION_SLOT}_{{metric}}{{{{job="{primary_job}", slot="{replica.slot}"}}}}'
        labels = {"server": spec.name, "replica": replica.name, "slot": replica.slot}
        rules += [
            {
                "alert": "EngardeReplicationSlotInactive",
                "expr": series.format(metric="active") + " == 0",
                "for": "5m",
                "labels": {"severity": "critical", **labels},
                "annotations": {
                    "summary": f"no replica streams through {replica.slot} on {spec.name}",
                    "description": f"{replica.name} is down or cannot connect; the slot keeps WAL for it.",
                },
            },
            {
                "alert": "EngardeReplicationSlotRetainingWal",
                "expr": series.format(metric="retained_bytes") + f" > {int(limit * SLOT_RETAINED_WARNING_RATIO)}",
                "for": "10m",
                "labels": {"severity": "warning", **labels},
                "annotations": {
                    "summary": f"{replica.slot} holds {{{{ $value | humanize1024 }}}}B of WAL on {spec.name}",
                    "description": f"At {spec.max_slot_wal_keep_size} (max_slot_wal_keep_size) the primary "
                    f"drops it and {replica.name} needs a new base backup (remove its volume).",
                },
            },
        ]
    return rules


def alert_rules(topology: Topology) -> dict[str, Any]:
    """The Prometheus rules file (as data) for the stack's servers, services and backup jobs."""
    connection_rules = []
    for server, role_name in _service_logins(topology):
        role = topology.role(server, role_name)
        limit = connection_limit(role)
        threshold = max(1, math.ceil(limit * CONNECTIONS_WARNING_RATIO))
        job = exporter_service_of(topology, server)
        connection_rules.append(
            {
                "alert": "EngardeConnectionsNearLimit",
                "expr": f'{ROLE_CONNECTIONS}_in_use{{job="{job}", role="{role_name}"}} >= {threshold}',
                "for": "5m",
                "labels": {"severity": "warning", "server": server, "role": role_name},
                "annotations": {
                    "summary": f"{role_name} on {server} is near its connection limit",
                    "description": f"{role_name} holds {{{{ $value }}}} of its {limit} connections on {server}.",
                },
            }
        )
    exporter_rules = []
    disk_rules = []
    for spec in topology.postgres_servers:
        for replica, watched in [(None, spec.name), *((r, r.name) for r in spec.replicas)]:
            job = exporter_service_of(topology, spec.name, replica.name if replica else None)
            labels = {"server": spec.name, **({"replica": replica.name} if replica else {})}
            exporter_rules += [
                {
                    "alert": "EngardeExporterDown",
                    "expr": f'up{{job="{job}"}} == 0 or absent(up{{job="{job}"}})',
                    "for": "5m",
                    "labels": {"severity": "critical", **labels},
                    "annotations": {"summary": f"{job} is not scraped: {watched} is not monitored"},
                },
                {
                    "alert": "EngardeDatabaseUnreachable",
                    "expr": f'pg_up{{job="{job}"}} == 0',
                    "for": "2m",
                    "labels": {"severity": "critical", **labels},
                    "annotations": {"summary": f"{job} cannot connect to {watched} as engarde_monitor"},
                },
            ]
        job = exporter_service_of(topology, spec.name)
        size = f'pg_database_size_bytes{{job="{job}", datname="{spec.database}"}}'
        disk_rules.append(
            {
                "alert": "EngardeDatabaseGrowingFast",
                "expr": (
                    f"{size} > {DISK_GROWTH_MIN_BYTES}"
                    f" and ({size} - {size} offset 1d) > {DISK_GROWTH_RATIO} * ({size} offset 1d)"
                ),
                "for": "1h",
                "labels": {"severity": "warning", "server": spec.name},
                "annotations": {
                    "summary": f"{spec.database} on {spec.name} grew by more than "
                    f"{int(DISK_GROWTH_RATIO * 100)}% in a day",
                    "description": "Now {{ $value | humanize1024 }}B; check the per-schema sizes "
                    f"({SCHEMA_SIZE}_size_bytes) and the disk.",
                },
            }
        )
    replication_rules = [rule for spec in topology.postgres_servers for rule in _replication_rules(topology, spec)]
    backup_rules = []
    for job_spec in topology.backups:
        late = int(job_spec.interval_seconds * BACKUP_GRACE_RATIO)
        metric = f'{LAST_SUCCESS_METRIC}{{database="{job_spec.server}"}}'
        tool = "pg_dump" if job_spec.engine is Engine.POSTGRESQL else "mysqldump"
        backup_rules += [
            {
                "alert": "EngardeBackupTooOld",
                "expr": f"time() - {metric} > {late}",
                "labels": {"severity": "critical", "server": job_spec.server},
                "annotations": {
                    "summary": f"the newest {job_spec.server} backup is older than {_duration(late)}",
                    "description": f"{job_spec.service} ({tool}) runs every {_duration(job_spec.interval_seconds)};"
                    " read its container log.",
                },
            },
            {
                "alert": "EngardeBackupMissing",
                "expr": f"absent({metric})",
                "for": _duration(late),
                "labels": {"severity": "critical", "server": job_spec.server},
                "annotations": {"summary": f"no {job_spec.server} backup has reported success"},
            },
        ]
    groups = [
        {"name": "engarde-connections", "rules": connection_rules},
        {"name": "engarde-exporters", "rules": exporter_rules},
        {"name": "engarde-replication", "rules": replication_rules},
        {"name": "engarde-backups", "rules": backup_rules},
        {"name": "engarde-disk", "rules": disk_rules},
    ]
    return {"groups": [group for group in groups if group["rules"]]}
