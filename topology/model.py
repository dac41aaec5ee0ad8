"""The data-plane layout as plain, typed, immutable values (no Pulumi here): servers, their replicas,
poolers and backups, and the topology that holds the whole layout.

The access model (`topology.access_model`) and the service containers (`topology.service_model`) have
their own modules; the names re-exported here keep `from topology.model import ...` working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from topology.access_model import (
    GROUP_PROFILES,
    PROFILE_PRIVILEGES,
    Access,
    AccessGroup,
    DatabaseUser,
    ObjectType,
    Privilege,
    PrivilegeSet,
    Profile,
    ProfilePrivileges,
    Role,
    Schema,
    privilege_sets,
    profile_privileges,
)
from topology.service_model import (
    EnvValue,
    GeneratedSecret,
    GeneratedSecretSpec,
    Healthcheck,
    PostgresUrl,
    Redis,
    RedisUrl,
    RolePassword,
    SecretKind,
    Service,
    Text,
)

__all__ = [
    "GROUP_PROFILES",
    "PROFILE_PRIVILEGES",
    "Access",
    "AccessGroup",
    "BackupJob",
    "CrossDatabaseReads",
    "DatabaseUser",
    "Engine",
    "EnvValue",
    "GeneratedSecret",
    "GeneratedSecretSpec",
    "Healthcheck",
    "Mode",
    "ObjectType",
    "Placement",
    "PoolUser",
    "Pooler",
    "PostgresUrl",
    "Privilege",
    "PrivilegeSet",
    "Profile",
    "ProfilePrivileges",
    "Redis",
    "RedisUrl",
    "Replica",
    "Role",
    "RolePassword",
    "Schema",
    "SecretKind",
    "Server",
    "ServerData",
    "ServerLayout",
    "Service",
    "Text",
    "Topology",
    "privilege_sets",
    "profile_privileges",
]


class Engine(StrEnum):
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"


class Mode(StrEnum):
    CONTAINER = "container"
    EXTERNAL = "external"


class Placement(StrEnum):
    DEDICATED = "dedicated"
    SHARED = "shared"


@dataclass(frozen=True)
class ServerData:
    """What a container PostgreSQL server's data volume holds (topology/upgrades.py)."""

    major: str
    """The PostgreSQL major whose data directory the volume holds."""
    volume_suffix: str = ""
    """What its data volumes' names carry after `-data`: "" for the first major, `-<major>` after an upgrade."""


def data_volume_name(container: str, data: ServerData | None) -> str:
    """The data volume of `container` (a PostgreSQL or MySQL server's, or a replica's): `<container>-data`,
    then the suffix of the major its data belongs to (none for a server without a record: MySQL's)."""
    return f"{container}-data{data.volume_suffix if data else ''}"


@dataclass(frozen=True)
class Replica:
    """A read replica of a PostgreSQL server: a hot standby streaming from it."""

    server: str
    """The primary's server name."""
    name: str
    """`<server>-replica-<n>`: its container name suffix and network alias (container mode)."""
    mode: Mode
    """container: the stack runs it (its own volume, slot and host port); external: an existing one."""
    host: str
    """Host services reach it by."""
    port: int
    """Port services reach it on."""
    host_port: int | None = None
    """Container mode: the port it is published on at 127.0.0.1."""

    @property
    def slot(self) -> str:
        """Its physical replication slot on the primary (container mode): `engarde_<server>_replica_<n>`."""
        return "engarde_" + self.name.replace("-", "_")

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Server:
    """A database server: a container the stack runs, or an existing (managed) one."""

    name: str
    """Logical name: main, flowdb or scheduler."""
    engine: Engine
    """Database engine."""
    mode: Mode
    """container: the stack runs it on Docker; external: an existing server."""
    database: str
    """The database the layout lives in (PostgreSQL) or is created (MySQL)."""
    adopt_database: bool
    """True when the database exists already and is never created or dropped."""
    admin_user: str
    """Role the provider connects as."""
    provider_host: str
    """Host the Pulumi provider connects to."""
    provider_port: int
    """Port the Pulumi provider connects to (the published port for containers)."""
    service_host: str
    """Host services use (the network alias for containers)."""
    service_port: int
    """Port services use."""
    image: str | None = None
    """Container image (container mode only)."""
    sslmode: str | None = None
    """libpq sslmode for external servers; None for containers on loopback."""
    superuser: bool = True
    """Whether the admin role is a superuser (managed servers: False)."""
    database_owner: str | None = None
    """Owner of a database the stack creates; None keeps the admin as owner."""
    max_connections: int = 100
    """PostgreSQL `max_connections`: set on a container, declared for an external server."""
    max_connections_assumed: bool = False
    """An external server whose `maxConnections` was not declared: PostgreSQL's default is assumed."""
    reserved_connections: int = 3
    """PostgreSQL `superuser_reserved_connections` (set on a container, declared for an external server)."""
    sslrootcert: str | None = None
    """CA bundle (PEM path) verifying the server (sslmode verify-ca / verify-full)."""
    import_database: bool = False
    """MySQL: the database exists already and is imported (Pulumi `import`), not created."""
    character_set: str = "utf8mb4"
    """MySQL: the database's default character set (what the server reads back when imported)."""
    collation: str = "utf8mb4_unicode_ci"
    """MySQL: the database's default collation (likewise)."""
    adopt_roles: tuple[str, ...] = ()
    """PostgreSQL: roles that exist already and are imported, not created."""
    replicas: tuple[Replica, ...] = ()
    """PostgreSQL: its read replicas (read-only DSNs prefer them)."""
    max_slot_wal_keep_size: str | None = None
    """A container primary with replicas: `max_slot_wal_keep_size` (a dead replica's slot holds no more WAL)."""
    image_version: str | None = None
    """Container mode: the version its image runs (a PostgreSQL major, `8`, `mariadb-10.5`)."""
    data: ServerData | None = None
    """A container PostgreSQL server: what its data volume holds."""

    @property
    def endpoint(self) -> str:
        return f"{self.service_host}:{self.service_port}"

    @property
    def streams_to_containers(self) -> bool:
        """A container primary with container replicas: the stack runs its replication."""
        return self.mode is Mode.CONTAINER and bool(self.replicas)


@dataclass(frozen=True)
class PoolUser:
    """A login role the pooler serves: one pool per (database, user)."""

    role: str
    """Login role (the pooler logs in to the server as this role)."""
    pool_size: int
    """Server connections of the pool: the role's connection limit."""
    pool_mode: str = "session"
    """PgBouncer pool_mode: session (default) or transaction (a service's opt-in)."""


@dataclass(frozen=True)
class Pooler:
    """PgBouncer in front of one PostgreSQL server."""

    server: str
    """Server it pools."""
    image: str
    """Container image (runContainers) or the image a platform runs."""
    host: str
    """Host services connect to (network alias in dev, the platform's host in prod)."""
    port: int
    """Port services connect to; PgBouncer listens on it."""
    query_wait_timeout: int
    """Seconds a client waits for a server connection of its pool before it is refused."""
    users: tuple[PoolUser, ...]
    """Roles whose DSNs go through it."""


@dataclass(frozen=True)
class BackupJob:
    """A scheduled logical backup of one database: a container in dev, the platform's job in prod."""

    server: str
    """Server backed up (main, flowdb or scheduler); also the dump files' prefix."""
    engine: Engine
    """pg_dump for PostgreSQL, mysqldump for MySQL."""
    database: str
    """The database dumped."""
    login: str
    """The backup role (PostgreSQL) or user (MySQL) the job logs in as."""
    service: str
    """Name of the job in the `services` output and of its dev container."""
    image: str
    """Pinned image with the dump client (the server's own image: client and server versions match)."""
    interval_seconds: int
    """Time between two backups (`backups.schedule`)."""
    keep: int
    """Dumps kept; older ones are deleted after each successful backup (`backups.keep`)."""


@dataclass(frozen=True)
class CrossDatabaseReads:
    """postgres_fdw on main: Langflow's tables on flowdb, imported as foreign tables that only the
    analytics reader can read, through flowdb's read-only login."""

    server: str
    """Server the foreign tables are on (main)."""
    database: str
    """Its database (the extension, foreign server and mappings live there)."""
    schema: str
    """Schema of the foreign tables (`langflow_remote`, owned by `owner`)."""
    owner: str
    """NOLOGIN owner of the schema: imports the tables (SECURITY DEFINER refresh function)."""
    readers: tuple[str, ...]
    """Login roles on main that get a user mapping and may run the refresh function."""
    foreign_server: str
    """Name of the foreign server on main."""
    remote_server: str
    """The stack's server the foreign tables read (flowdb)."""
    remote_host: str
    """Host main's server reaches it by (the network alias for containers)."""
    remote_port: int
    """Port main's server reaches it on."""
    remote_database: str
    """Its database."""
    remote_role: str
    """The read-only login role every mapping logs in as on the remote server."""
    remote_sslmode: str | None = None
    """libpq sslmode of the remote connection (external servers); None: libpq's default."""

    @property
    def mapped_roles(self) -> tuple[str, ...]:
        """Roles on main with a user mapping: the schema's owner (it imports) and the readers."""
        return (self.owner, *self.readers)


@dataclass(frozen=True)
class Topology:
    """Everything the stack creates, derived from stack config; validated on construction."""

    stack: str
    placement: Placement
    run_containers: bool
    protect: bool
    servers: dict[str, Server]
    roles: tuple[Role, ...]
    schemas: tuple[Schema, ...]
    access: tuple[Access, ...]
    groups: tuple[AccessGroup, ...]
    database_users: tuple[DatabaseUser, ...]
    services: tuple[Service, ...]
    secrets: tuple[GeneratedSecretSpec, ...]
    redis: Redis | None
    network: str
    admin_password_keys: dict[str, str]
    """server -> config key of its admin password (external servers)."""
    poolers: dict[str, Pooler] = field(default_factory=dict)
    """server -> its PgBouncer (servers with `pooler: pgbouncer`)."""
    backups: tuple[BackupJob, ...] = ()
    """One scheduled logical backup per database."""
    cross_database_reads: CrossDatabaseReads | None = None
    """postgres_fdw from main to flowdb (`crossDatabaseReads`)."""
    notices: tuple[str, ...] = ()
    """What the config and the deployed stack together call for (a major upgrade under way, ...)."""

    @cached_property
    def layouts(self) -> dict[str, ServerLayout]:
        """Each server's share of the layout, by server name (in `servers` order)."""
        return {name: _server_layout(self, server) for name, server in self.servers.items()}

    @property
    def privileges(self) -> tuple[Privilege, ...]:
        """Every privilege the layout grants, on every server."""
        return tuple(p for layout in self.layouts.values() for p in layout.privileges)

    def role(self, server: str, name: str) -> Role:
        return self.layouts[server].role(name)

    @property
    def postgres_servers(self) -> tuple[Server, ...]:
        return tuple(s for s in self.servers.values() if s.engine is Engine.POSTGRESQL)


@dataclass(frozen=True)
class ServerLayout:
    """One server's share of the topology: what its component builds and what the audit expects there."""

    server: Server
    """The server."""
    roles: tuple[Role, ...]
    """PostgreSQL: its login, owner and group roles."""
    schemas: tuple[Schema, ...]
    """PostgreSQL: the schemas of its database."""
    groups: tuple[AccessGroup, ...]
    """PostgreSQL: its access groups."""
    access: tuple[Access, ...]
    """PostgreSQL: its cells of the access matrix."""
    users: tuple[DatabaseUser, ...]
    """MySQL: the users it creates, each with its database."""
    cross_database_reads: CrossDatabaseReads | None = None
    """PostgreSQL: the foreign tables it reads from another server (`crossDatabaseReads`, on main)."""

    @property
    def name(self) -> str:
        return self.server.name

    @property
    def engine(self) -> Engine:
        return self.server.engine

    def role(self, name: str) -> Role:
        for role in self.roles:
            if role.name == name:
                return role
        raise KeyError(f"no role {name!r} on server {self.server.name!r}")

    @property
    def logins(self) -> tuple[Role, ...]:
        return tuple(r for r in self.roles if r.login)

    @property
    def user_mappings(self) -> dict[tuple[str, str], str]:
        """(foreign server, local role) -> the remote login it logs in as: every mapping wanted here."""
        reads = self.cross_database_reads
        if reads is None:
            return {}
        return {(reads.foreign_server, role): reads.remote_role for role in reads.mapped_roles}

    def groups_on(self, schema: str) -> tuple[AccessGroup, ...]:
        """The access groups holding privileges on `schema`, in creation order."""
        return tuple(g for g in self.groups if g.schema == schema)

    def groups_of(self, member: str) -> tuple[AccessGroup, ...]:
        """The access groups `member` belongs to."""
        return tuple(g for g in self.groups if member in g.members)

    @property
    def memberships(self) -> frozenset[tuple[str, str]]:
        """(group, member): access groups and built-in roles."""
        return frozenset(
            {(g.name, m) for g in self.groups for m in g.members}
            | {(builtin, r.name) for r in self.roles for builtin in r.member_of}
        )

    @property
    def privileges(self) -> tuple[Privilege, ...]:
        """What the layout grants here: owners on schemas they do not own, then each group's privileges."""
        return (
            *(p for s in self.schemas for p in s.owner_privileges),
            *(p for g in self.groups for p in g.privileges),
        )


def _server_layout(topology: Topology, server: Server) -> ServerLayout:
    name = server.name
    return ServerLayout(
        server=server,
        roles=tuple(r for r in topology.roles if r.server == name),
        schemas=tuple(s for s in topology.schemas if s.server == name),
        groups=tuple(g for g in topology.groups if g.server == name),
        access=tuple(a for a in topology.access if a.server == name),
        users=tuple(u for u in topology.database_users if u.server == name),
        cross_database_reads=reads if (reads := topology.cross_database_reads) and reads.server == name else None,
    )
