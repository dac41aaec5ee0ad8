"""The validated stack config, as the layout reads it: each server in its mode, every default applied."""

from __future__ import annotations

from dataclasses import dataclass, field

from topology.catalog import BUILTIN_CONNECTION_LIMITS, DEFAULT_SERVICE_CONNECTION_LIMIT
from topology.config.values import DEFAULT_CHARACTER_SET, DEFAULT_COLLATION, DEFAULT_MAX_SLOT_WAL_KEEP_SIZE
from topology.model import Engine, Mode, Placement

SERVICE_HOSTS = {"backend": "backend", "langflow-server": "langflow-server", "redis": "redis"}
"""Host names other services reach these by (their container aliases); `serviceHosts` overrides
them for a platform that names its services otherwise (prod: runContainers false)."""


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine (its connections never leave it)."""
    return host == "localhost" or host == "::1" or host.startswith("127.")


@dataclass(frozen=True)
class ReplicaConfig:
    """One read replica of a PostgreSQL server: a container the stack runs (its host port), or an
    existing one (its host and port)."""

    host_port: int | None = None
    host: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class ServerConfig:
    """One server's settings after defaults and validation."""

    name: str
    engine: Engine
    mode: Mode
    database: str
    image: str | None = None
    image_version: str | None = None
    """Container mode: the version the image runs (a PostgreSQL major, `8`, `mariadb-10.5`)."""
    allow_major_upgrade: bool = False
    host_port: int | None = None
    host: str | None = None
    port: int | None = None
    admin_user: str = "postgres"
    sslmode: str | None = None
    allow_unencrypted: bool = False
    superuser: bool = True
    max_connections: int = 100
    max_connections_assumed: bool = False
    reserved_connections: int = 3
    pooler: str = "none"
    pooler_host: str | None = None
    pooler_port: int = 6432
    pooler_query_wait_timeout: int = 30
    sslrootcert: str | None = None
    adopt_database: bool = False
    character_set: str = DEFAULT_CHARACTER_SET
    collation: str = DEFAULT_COLLATION
    adopt_roles: tuple[str, ...] = ()
    version: int | None = None
    admin_grants_pg_monitor: bool = False
    admin_grants_pg_read_all_data: bool = False
    replicas: tuple[ReplicaConfig, ...] = ()
    max_slot_wal_keep_size: str = DEFAULT_MAX_SLOT_WAL_KEEP_SIZE


@dataclass(frozen=True)
class ExtraServiceConfig:
    """A service a stack adds through `engarde:services`."""

    name: str
    image: str
    schema: str
    port: int
    reads: tuple[str, ...] = ()
    connection_limit: int = DEFAULT_SERVICE_CONNECTION_LIMIT
    pool_mode: str = "session"

    @property
    def role(self) -> str:
        """Its login role, owner of its schema."""
        return f"{self.schema}_user"


@dataclass(frozen=True)
class BackupConfig:
    """`backups`: how often each database is dumped and how many dumps are kept."""

    schedule: str = "24h"
    """Interval between backups: a number and a unit, m, h or d."""
    interval_seconds: int = 86400
    """`schedule` in seconds."""
    keep: int = 7
    """Dumps kept per database (retention by count)."""


@dataclass(frozen=True)
class StackConfig:
    """The validated stack config."""

    placement: Placement
    run_containers: bool
    protect: bool
    scheduler_base_url: str
    langflow_superuser: str
    servers: dict[str, ServerConfig]
    images: dict[str, str]
    extra_services: tuple[ExtraServiceConfig, ...] = field(default_factory=tuple)
    admin_password_keys: dict[str, str] = field(default_factory=dict)
    """server -> config key holding its admin password (external servers)."""
    connection_limits: dict[str, int] = field(default_factory=lambda: dict(BUILTIN_CONNECTION_LIMITS))
    """`connectionLimits` key -> CONNECTION LIMIT of the built-in login roles it names."""
    service_hosts: dict[str, str] = field(default_factory=lambda: dict(SERVICE_HOSTS))
    """service -> host name in the env of the services that call it."""
    backups: BackupConfig = field(default_factory=BackupConfig)
    """Backup schedule and retention."""
    cross_database_reads: bool = False
    """postgres_fdw on main: Langflow's tables readable by the analytics reader (dedicated placement)."""
