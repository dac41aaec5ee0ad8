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
from topology.model import Engine, Placement, PostgresUrl, Role, Text, Topology
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

ROLE_CONNECTIONS = "engarde_role_connections"
SCHEMA_SIZE = "engarde_schema"
LANGFLOW_TUPLES = "engarde_langflow_tuples"


def connection_limit(role: Role) -> int:
    """The connection limit of a login role: the topology's own when it sets one, else the default."""
    limit = getattr(role, "connection_limit", None)
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        return limit
    return DEFAULT_SERVICE_CONNECTION_LIMIT


def exporter_service_of(topology: Topology, server: str) -> str:
    return "postgres-exporter" if server == "main" else f"postgres-exporter-{server}"


def _in_list(values: list[str]) -> str:
    return ", ".join(quote_literal(v) for v in values)


def _langflow_schema(topology: Topology, server: str) -> str | None:
    if topology.placement is Placement.SHARED:
        return "langflow" if server == "main" else None
    return "public" if server == "flowdb" else None


def exporter_queries(topology: Topology, server: str) -> dict[str, Any]:
    """postgres_exporter's `--extend.query-path` content for `server` (catalog and statistics views only:
    the monitor role reads no table of any schema)."""
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
            queries = json.dumps(exporter_queries(topology, url.server), indent=2) + "\n"  # JSON is YAML
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
        job = exporter_service_of(topology, spec.name)
        exporter_rules += [
            {
                "alert": "EngardeExporterDown",
                "expr": f'up{{job="{job}"}} == 0 or absent(up{{job="{job}"}})',
                "for": "5m",
                "labels": {"severity": "critical", "server": spec.name},
                "annotations": {"summary": f"{job} is not scraped: {spec.name} is not monitored"},
            },
            {
                "alert": "EngardeDatabaseUnreachable",
                "expr": f'pg_up{{job="{job}"}} == 0',
                "for": "2m",
                "labels": {"severity": "critical", "server": spec.name},
                "annotations": {"summary": f"{job} cannot connect to {spec.name} as engarde_monitor"},
            },
        ]
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
        {"name": "engarde-backups", "rules": backup_rules},
        {"name": "engarde-disk", "rules": disk_rules},
    ]
    return {"groups": [group for group in groups if group["rules"]]}
