"""Connection budget per PostgreSQL server: what may connect must fit `max_connections`.

Every login role has a CONNECTION LIMIT, so the server refuses a role's (limit + 1)th connection
and no service can take another's connections. The budget adds them up with the admin's own
connections and `superuser_reserved_connections`; the plan refuses a layout that does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from topology.model import Topology
from topology.names import ConfigError

PROVIDER_MAX_CONNECTIONS = 4
"""`max_connections` of the postgresql provider (its default, 20, would not fit a small server)."""
ADMIN_CONNECTIONS = PROVIDER_MAX_CONNECTIONS + 1
"""The provider's pool plus the audit-log DDL's own connection, both as the admin role."""


@dataclass(frozen=True)
class BudgetLine:
    """Who may hold how many connections."""

    who: str
    """Consumer, e.g. `madansara_user (madan-sara)` or `admin`."""
    key: str
    """Config key that sets the number ("" when fixed by the stack)."""
    connections: int


@dataclass(frozen=True)
class ServerBudget:
    """One server's budget."""

    server: str
    max_connections: int
    lines: tuple[BudgetLine, ...]

    @property
    def used(self) -> int:
        return sum(line.connections for line in self.lines)

    @property
    def headroom(self) -> int:
        return self.max_connections - self.used

    def as_dict(self) -> dict[str, Any]:
        return {
            "maxConnections": self.max_connections,
            "used": self.used,
            "headroom": self.headroom,
            "lines": [{"who": line.who, "key": line.key, "connections": line.connections} for line in self.lines],
        }


def server_budget(topology: Topology, server: str) -> ServerBudget:
    spec = topology.servers[server]
    lines = [
        BudgetLine(
            f"{role.name} ({role.description})" if role.description else role.name,
            role.limit_key,
            role.connection_limit,
        )
        for role in topology.layouts[server].roles
        if role.login
    ]
    lines.append(BudgetLine(f"admin {spec.admin_user} (provider pool and audit-log DDL)", "", ADMIN_CONNECTIONS))
    lines.append(
        BudgetLine("superuser_reserved_connections", f"servers.{server}.reservedConnections", spec.reserved_connections)
    )
    if server in topology.poolers:
        # PgBouncer logs in as each pooled role (auth_file, no auth_query user): its server
        # connections are those roles' limits, counted above.
        lines.append(BudgetLine("pgbouncer's own connections", f"servers.{server}.pooler", 0))
    return ServerBudget(server, spec.max_connections, tuple(lines))


def connection_budgets(topology: Topology) -> dict[str, ServerBudget]:
    """The budget of each PostgreSQL server."""
    return {spec.name: server_budget(topology, spec.name) for spec in topology.postgres_servers}


def check_connection_budgets(topology: Topology) -> None:
    """Refuse a layout whose connections do not fit a server: one line naming the keys and numbers."""
    for name, budget in connection_budgets(topology).items():
        if budget.headroom >= 0:
            continue
        parts = ", ".join(f"{line.key or 'admin'}={line.connections}" for line in budget.lines if line.connections)
        assumed = topology.servers[name].max_connections_assumed
        given = (
            f"{budget.max_connections} (not declared: PostgreSQL's default is assumed for an external server; "
            f"declare the server's max_connections as servers.{name}.maxConnections)"
            if assumed
            else str(budget.max_connections)
        )
        raise ConfigError(
            f"servers.{name}.maxConnections",
            f"{given} does not fit the connection budget of {budget.used} ({parts}); "
            f"raise servers.{name}.maxConnections or lower the connection limits",
        )
