"""The data-plane layout as plain, typed, immutable values (no Pulumi here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Engine(StrEnum):
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"


class Mode(StrEnum):
    CONTAINER = "container"
    EXTERNAL = "external"


class Profile(StrEnum):
    """Access profiles: one vocabulary for code, review views, audit and tests."""

    OWNER = "owner"
    READ = "read"
    WRITE = "write"
    APPEND = "append"
    BACKUP = "backup"
    """Reads every table and sequence through `pg_read_all_data` (no grant, no access group)."""


class Placement(StrEnum):
    DEDICATED = "dedicated"
    SHARED = "shared"


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


@dataclass(frozen=True)
class Role:
    """A role on one server."""

    server: str
    """Server the role lives on."""
    name: str
    """Role name (a validated PostgreSQL identifier)."""
    login: bool
    """LOGIN roles get a generated password; NOLOGIN roles are groups or owners."""
    search_path: tuple[str, ...] = ()
    """Role-level search_path (survives poolers and clients that drop URL options)."""
    member_of: tuple[str, ...] = ()
    """Built-in roles it is a member of (e.g. pg_monitor)."""
    owns_data: bool = False
    """Owns a schema or the objects in it: protected in prod, never reassigned on delete."""
    description: str = ""
    """Who uses it."""
    connection_limit: int = -1
    """CONNECTION LIMIT of the role (-1: none; every login role of the layout has one)."""
    limit_key: str = ""
    """Config key that sets `connection_limit` (named by the budget check and the plan)."""


@dataclass(frozen=True)
class Schema:
    """A schema and the role that owns what is created in it."""

    server: str
    """Server of the schema."""
    database: str
    """Database of the schema."""
    name: str
    """Schema name."""
    owner: str
    """Role that runs the migrations, so owns the objects created in the schema."""
    created: bool
    """False for `public`, which exists already: the owner gets USAGE+CREATE instead."""


@dataclass(frozen=True)
class Access:
    """One cell of the access matrix: a login role's profile on a schema."""

    server: str
    database: str
    schema: str
    role: str
    profile: Profile


@dataclass(frozen=True)
class AccessGroup:
    """A NOLOGIN group role holding one (schema, profile)'s grants and default privileges."""

    server: str
    """Server of the schema."""
    database: str
    """Database of the schema."""
    schema: str
    """Schema the grants are on."""
    profile: Profile
    """read, write or append."""
    name: str
    """Group role name, `<schema>_<profile>`."""
    creator: str
    """Role whose future objects the default privileges cover (the schema's owner)."""
    members: tuple[str, ...]
    """Login roles that get the access by (INHERIT) membership."""


@dataclass(frozen=True)
class DatabaseUser:
    """A MySQL user with all privileges on one database and nothing else."""

    server: str
    name: str
    database: str


# Values a service's environment variable can take.


@dataclass(frozen=True)
class Text:
    """A plain, non-secret value."""

    value: str


@dataclass(frozen=True)
class PostgresUrl:
    """A postgresql:// DSN for a login role (secret)."""

    server: str
    role: str
    search_path: tuple[str, ...] = ()
    pooled: bool = False
    """Through the server's pooler (no `options`: the role-level search_path applies there)."""


@dataclass(frozen=True)
class RolePassword:
    """The generated password of a login role or MySQL user (secret)."""

    server: str
    role: str


@dataclass(frozen=True)
class GeneratedSecret:
    """A stack-generated secret such as an application key (secret)."""

    name: str


@dataclass(frozen=True)
class RedisUrl:
    """redis:// URL with the generated password (secret)."""

    database: int = 0


EnvValue = Text | PostgresUrl | RolePassword | GeneratedSecret | RedisUrl


@dataclass(frozen=True)
class Healthcheck:
    """A container healthcheck (Docker `CMD-SHELL` form)."""

    command: str
    interval: str = "10s"
    timeout: str = "5s"
    retries: int = 10
    start_period: str = "30s"


@dataclass(frozen=True)
class Service:
    """A service container and the settings wired into it."""

    name: str
    """Service name: container suffix and network alias."""
    image: str | None
    """Image reference (tag or digest, never `latest`); None for a consumer that only reads the outputs."""
    port: int | None
    """Port the service listens on inside the network."""
    env: dict[str, EnvValue] = field(default_factory=dict)
    """Environment contract (the variable names are part of the contract: README, outputs contract)."""
    healthcheck: Healthcheck | None = None
    """Optional container healthcheck."""
    files: dict[str, str] = field(default_factory=dict)
    """Files uploaded into the container: path -> content (e.g. an exporter's queries)."""


class SecretKind(StrEnum):
    """What a generated secret is, so it is generated in the form its consumer accepts."""

    PASSWORD = "password"
    """`length` characters (RandomPassword)."""
    FERNET_KEY = "fernet-key"
    """`length` random bytes in url-safe base64 with padding: a Fernet key when `length` is 32."""


@dataclass(frozen=True)
class GeneratedSecretSpec:
    """A secret the stack generates."""

    name: str
    length: int
    special: bool
    kind: SecretKind = SecretKind.PASSWORD


@dataclass(frozen=True)
class Redis:
    """The password-protected Redis cache."""

    image: str
    alias: str = "redis"
    port: int = 6379


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

    def role(self, server: str, name: str) -> Role:
        for role in self.roles:
            if role.server == server and role.name == name:
                return role
        raise KeyError(f"no role {name!r} on server {server!r}")

    def roles_on(self, server: str) -> tuple[Role, ...]:
        return tuple(r for r in self.roles if r.server == server)

    def schemas_on(self, server: str) -> tuple[Schema, ...]:
        return tuple(s for s in self.schemas if s.server == server)

    def groups_of(self, server: str) -> tuple[AccessGroup, ...]:
        return tuple(g for g in self.groups if g.server == server)

    def groups_on(self, server: str, schema: str) -> tuple[AccessGroup, ...]:
        return tuple(g for g in self.groups if g.server == server and g.schema == schema)

    @property
    def postgres_servers(self) -> tuple[Server, ...]:
        return tuple(s for s in self.servers.values() if s.engine is Engine.POSTGRESQL)


@dataclass(frozen=True)
class Privileges:
    """What a profile grants on a schema, its tables and its sequences (now and by default)."""

    schema: tuple[str, ...]
    tables: tuple[str, ...]
    sequences: tuple[str, ...]


PROFILE_PRIVILEGES: dict[Profile, Privileges] = {
    Profile.OWNER: Privileges(("CREATE", "USAGE"), (), ()),
    Profile.READ: Privileges(("USAGE",), ("SELECT",), ("SELECT",)),
    Profile.WRITE: Privileges(("USAGE",), ("DELETE", "INSERT", "SELECT", "UPDATE"), ("SELECT", "UPDATE", "USAGE")),
    Profile.APPEND: Privileges(("USAGE",), ("INSERT",), ("USAGE",)),
    # What `pg_read_all_data` amounts to; held through that built-in role, never granted per schema.
    Profile.BACKUP: Privileges(("USAGE",), ("SELECT",), ("SELECT",)),
}
"""Owners own their schema; on an existing `public` they get the schema privileges listed here."""
