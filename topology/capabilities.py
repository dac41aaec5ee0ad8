"""What an external PostgreSQL server's admin can do, checked against what the layout asks of it.

A superuser can do everything the stack does. A managed server's admin (LOGIN CREATEROLE CREATEDB,
owner of the database, not a superuser) can too, except one thing that depends on the server's major
version: since PostgreSQL 16, CREATEROLE no longer lets a role grant membership in a role it holds no
ADMIN OPTION on, so `GRANT pg_monitor TO engarde_monitor` (what the provider's Role runs for
`roles = ["pg_monitor"]`) fails unless the provider gave the admin pg_monitor WITH ADMIN OPTION.
Such a config is refused here, at plan time, instead of half-way through `pulumi up`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from topology.model import Mode, Role
from topology.names import ConfigError


class AdminFacts(Protocol):
    """What a server's config says about its admin (`topology.config.ServerConfig` has these)."""

    @property
    def mode(self) -> Mode: ...
    @property
    def superuser(self) -> bool: ...
    @property
    def version(self) -> int | None: ...
    @property
    def admin_grants_pg_monitor(self) -> bool: ...
    @property
    def admin_user(self) -> str: ...


POSTGRES_VERSIONS = (15, 16, 17, 18)
"""PostgreSQL major versions the real-server tests cover, with a superuser and a managed admin."""
FIRST_VERSION_WITHOUT_CREATEROLE_GRANTS = 16
PG_MONITOR = "pg_monitor"


def check_postgres_version(key: str, version: int) -> None:
    """`servers.<name>.version`: one the tests cover."""
    if version not in POSTGRES_VERSIONS:
        raise ConfigError(key, f"must be one of {', '.join(map(str, POSTGRES_VERSIONS))} (got {version})")


def check_admin_grants(servers: Mapping[str, AdminFacts], roles: Iterable[Role]) -> None:
    """Refuse a pg_monitor membership a non-superuser admin cannot grant, or may not, for want of the version."""
    for role in roles:
        facts = servers[role.server]
        if PG_MONITOR not in role.member_of or facts.superuser or facts.mode is not Mode.EXTERNAL:
            continue
        if facts.version is None:
            raise ConfigError(
                f"servers.{role.server}.version",
                "is required when superuser is false: the server's PostgreSQL major version"
                f" ({', '.join(map(str, POSTGRES_VERSIONS))}), since 16 a non-superuser admin grants {PG_MONITOR}"
                f" (to {role.name}) only WITH ADMIN OPTION on it",
            )
        if facts.version >= FIRST_VERSION_WITHOUT_CREATEROLE_GRANTS and not facts.admin_grants_pg_monitor:
            raise ConfigError(
                f"servers.{role.server}.adminGrantsPgMonitor",
                f"must be true to make {role.name} a member of {PG_MONITOR}: on PostgreSQL 16+ a non-superuser admin"
                f" grants it only WITH ADMIN OPTION on it; have the provider run `GRANT {PG_MONITOR} TO"
                f" {facts.admin_user} WITH ADMIN OPTION`, then set this to true",
            )
