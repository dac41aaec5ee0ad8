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

from topology.model import Engine, Mode, Role
from topology.names import ConfigError

class AdminFacts(Protocol):
    """What a server's config says about its admin (`topology.config.ServerConfig` has these)."""

    @property
    def engine(self) -> Engine: ...
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


def check_postgres_version(key: str, version: int | None, superuser: bool) -> None:
    """`servers.<name>.version`: one the tests cover; required when the admin is not a superuser."""
    if version is None:
        if not superuser:
            raise ConfigError(
                key,
                "is required when superuser is false: the server's PostgreSQL major version "
                f"({', '.join(map(str, POSTGRES_VERSIONS))}; what a non-superuser admin may grant changed in 16)",
            )
        return
    if version not in POSTGRES_VERSIONS:
        raise ConfigError(key, f"must be one of {', '.join(map(str, POSTGRES_VERSIONS))} (got {version})")


def check_admin_grants(servers: Mapping[str, AdminFacts], roles: Iterable[Role]) -> None:
    """Refuse a pg_monitor membership a non-superuser admin on PostgreSQL 16+ cannot grant."""
    for role in roles:
        facts = servers[role.server]
        if PG_MONITOR not in role.member_of or facts.superuser or facts.engine is not Engine.POSTGRESQL:
            continue
        if facts.mode is Mode.EXTERNAL and not facts.admin_grants_pg_monitor and _needs_admin_option(facts.version):
            raise ConfigError(
                f"servers.{role.server}.adminGrantsPgMonitor",
                f"must be true to make {role.name} a member of {PG_MONITOR}: on PostgreSQL 16+ a non-superuser admin"
                f" grants it only WITH ADMIN OPTION on it; have the provider run `GRANT {PG_MONITOR} TO"
                f" {facts.admin_user} WITH ADMIN OPTION`, then set this to true",
            )


def _needs_admin_option(version: int | None) -> bool:
    return version is None or version >= FIRST_VERSION_WITHOUT_CREATEROLE_GRANTS
