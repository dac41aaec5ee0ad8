"""What an external PostgreSQL server's admin can do, checked against what the layout asks of it.

A superuser can do everything the stack does. A managed server's admin (LOGIN CREATEROLE CREATEDB,
owner of the database, not a superuser) can too, except one thing that depends on the server's major
version: since PostgreSQL 16, CREATEROLE no longer lets a role grant membership in a role it holds no
ADMIN OPTION on, so `GRANT pg_monitor TO engarde_monitor` and `GRANT pg_read_all_data TO
engarde_backup` (what the provider's Role runs for `roles = [...]`) fail unless the provider gave the
admin those roles WITH ADMIN OPTION.
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
    def admin_grants_pg_read_all_data(self) -> bool: ...
    @property
    def admin_user(self) -> str: ...


POSTGRES_VERSIONS = (15, 16, 17, 18)
"""PostgreSQL major versions the real-server tests cover, with a superuser and a managed admin."""
FIRST_VERSION_WITHOUT_CREATEROLE_GRANTS = 16
PG_MONITOR = "pg_monitor"
PREDEFINED_ROLE_KEYS = {
    PG_MONITOR: ("adminGrantsPgMonitor", "admin_grants_pg_monitor"),
    "pg_read_all_data": ("adminGrantsPgReadAllData", "admin_grants_pg_read_all_data"),
}
"""Predefined role -> the server key (and config field) that says the admin holds it WITH ADMIN OPTION."""


def check_postgres_version(key: str, version: int) -> None:
    """`servers.<name>.version`: one the tests cover."""
    if version not in POSTGRES_VERSIONS:
        raise ConfigError(key, f"must be one of {', '.join(map(str, POSTGRES_VERSIONS))} (got {version})")


def check_admin_grants(servers: Mapping[str, AdminFacts], roles: Iterable[Role]) -> None:
    """Refuse a predefined-role membership a non-superuser admin cannot grant, or may not, for want of the version."""
    for role in roles:
        facts = servers[role.server]
        granted = [name for name in role.member_of if name in PREDEFINED_ROLE_KEYS]
        if not granted or facts.superuser or facts.mode is not Mode.EXTERNAL:
            continue
        predefined = granted[0]
        key, field = PREDEFINED_ROLE_KEYS[predefined]
        if facts.version is None:
            raise ConfigError(
                f"servers.{role.server}.version",
                "is required when superuser is false: the server's PostgreSQL major version"
                f" ({', '.join(map(str, POSTGRES_VERSIONS))}), since 16 a non-superuser admin grants {predefined}"
                f" (to {role.name}) only WITH ADMIN OPTION on it",
            )
        if facts.version >= FIRST_VERSION_WITHOUT_CREATEROLE_GRANTS and not getattr(facts, field):
            raise ConfigError(
                f"servers.{role.server}.{key}",
                f"must be true to make {role.name} a member of {predefined}: on PostgreSQL 16+ a non-superuser admin"
                f" grants it only WITH ADMIN OPTION on it; have the provider run `GRANT {predefined} TO"
                f" {facts.admin_user} WITH ADMIN OPTION`, then set this to true",
            )
