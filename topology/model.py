"""The data-plane layout as plain, typed, immutable values (no Pulumi here)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property


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


GROUP_PROFILES = (Profile.READ, Profile.WRITE, Profile.APPEND)
"""Profiles held through an access group role `<schema>_<profile>`."""


class Placement(StrEnum):
    DEDICATED = "dedicated"
    SHARED = "shared"


class ObjectType(StrEnum):
    """What a privilege is on: the schema itself, or the tables or sequences in it."""

    SCHEMA = "schema"
    TABLE = "table"
    SEQUENCE = "sequence"


@dataclass(frozen=True, order=True)
class Privilege:
    """One privilege of one role on a schema, or on the tables or sequences in it.

    The unit of the access model, as in ldap2pg: the topology lists the privileges it wants, the
    components group them into provider resources (`PrivilegeSet`), the audit reads the live ones
    from the catalog in this shape and compares the two sets, the review views show them.
    """

    server: str
    """Server of the schema."""
    database: str
    """Database of the schema."""
    schema: str
    """Schema the privilege is on or in."""
    object_type: ObjectType
    """The schema itself, or its tables or sequences."""
    grantee: str
    """Role that holds it (`PUBLIC` for everyone)."""
    privilege: str
    """SELECT, USAGE, ... as PostgreSQL spells it."""
    default_for: str | None = None
    """A default privilege: the role whose future objects receive it (`FOR ROLE`); None: a grant."""
    relation: str | None = None
    """On one table or sequence (as the catalog reports it); None: on every one in the schema."""

    @property
    def is_default(self) -> bool:
        return self.default_for is not None

    def on_relation(self, relation: str) -> Privilege:
        """This privilege as the catalog reports it on one existing table or sequence."""
        # Built directly: the audit makes one per privilege and relation (dataclasses.replace is slower).
        return Privilege(
            self.server, self.database, self.schema, self.object_type, self.grantee, self.privilege,
            self.default_for, relation,
        )  # fmt: skip


@dataclass(frozen=True, order=True)
class PrivilegeSet:
    """The privileges one provider resource holds: a `Grant`, or a `DefaultPrivileges` when `default_for`.

    The provider revokes everything for this key before it grants (resource_postgresql_grant.go,
    resource_postgresql_default_privileges.go), so each key has exactly one resource.
    """

    server: str
    database: str
    schema: str
    object_type: ObjectType
    grantee: str
    default_for: str | None
    privileges: tuple[str, ...]

    @property
    def resource_suffix(self) -> str:
        """`schema`, `tables`, `sequences`, `default-tables` or `default-sequences`."""
        kind = "schema" if self.object_type is ObjectType.SCHEMA else f"{self.object_type.value}s"
        return f"default-{kind}" if self.default_for else kind


def privilege_sets(privileges: Iterable[Privilege]) -> tuple[PrivilegeSet, ...]:
    """Privileges grouped by provider resource, in the order their keys first appear; privileges sorted."""
    grouped: dict[tuple[str, str, str, ObjectType, str, str | None], list[str]] = {}
    for p in privileges:
        key = (p.server, p.database, p.schema, p.object_type, p.grantee, p.default_for)
        grouped.setdefault(key, []).append(p.privilege)
    return tuple(PrivilegeSet(*key, privileges=tuple(sorted(set(names)))) for key, names in grouped.items())


@dataclass(frozen=True)
class ServerData:
    """What a container PostgreSQL server's data volume holds (topology/upgrades.py)."""

    major: str
    """The PostgreSQL major whose data directory the volume holds."""
    volume_suffix: str = ""
    """What its data volumes' names carry after `-data`: "" for the first major, `-<major>` after an upgrade."""


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
    replication: bool = False
    """REPLICATION: only the replicas' login role (`engarde_replicator`) has it."""


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

    @property
    def owner_privileges(self) -> tuple[Privilege, ...]:
        """What the owner is granted on a schema it does not own (the existing `public`); nothing otherwise."""
        if self.created:
            return ()
        return profile_privileges(Profile.OWNER, self.server, self.database, self.name, self.owner, self.owner)


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

    @property
    def privileges(self) -> tuple[Privilege, ...]:
        """What the group holds: the profile's privileges on the schema, on what is in it, and by default."""
        return profile_privileges(self.profile, self.server, self.database, self.schema, self.name, self.creator)


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
    read_only: bool = False
    """A reader's DSN: lists the server's replicas first and prefers a standby (libpq multi-host)."""
    replica: str | None = None
    """That one replica only (its exporter); None: the primary, or the replicas for `read_only`."""
    explicit_sslmode: bool = False
    """The client is Go's lib/pq (postgres_exporter), whose default sslmode is `require`: where the
    server's DSNs name none (containers on the stack's network), this one says `sslmode=disable`."""


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
    """A container healthcheck (Docker `CMD-SHELL` form). Durations are written as Go's
    `time.Duration.String()` writes them (`3m0s`, not `180s`): the docker provider reads them back in that
    form, and any other spelling is a diff on every `pulumi up`."""

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
    """Environment contract (the variable names are part of the contract: docs/outputs.md)."""
    healthcheck: Healthcheck | None = None
    """Optional container healthcheck."""
    files: dict[str, str] = field(default_factory=dict)
    """Files uploaded into the container: path -> content (e.g. an exporter's queries)."""

    @property
    def logins(self) -> tuple[tuple[str, str], ...]:
        """(server, role) of every credential in its env, once each, in env order."""
        credentials = (v for v in self.env.values() if isinstance(v, (PostgresUrl, RolePassword)))
        return tuple(dict.fromkeys((value.server, value.role) for value in credentials))

    @property
    def pooled_servers(self) -> tuple[str, ...]:
        """Servers it reaches through their pooler."""
        return tuple(dict.fromkeys(v.server for v in self.env.values() if isinstance(v, PostgresUrl) and v.pooled))


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


@dataclass(frozen=True)
class ProfilePrivileges:
    """What a profile grants on a schema, its tables and its sequences (now and by default)."""

    schema: tuple[str, ...]
    tables: tuple[str, ...]
    sequences: tuple[str, ...]


PROFILE_PRIVILEGES: dict[Profile, ProfilePrivileges] = {
    Profile.OWNER: ProfilePrivileges(("CREATE", "USAGE"), (), ()),
    Profile.READ: ProfilePrivileges(("USAGE",), ("SELECT",), ("SELECT",)),
    Profile.WRITE: ProfilePrivileges(
        ("USAGE",), ("DELETE", "INSERT", "SELECT", "UPDATE"), ("SELECT", "UPDATE", "USAGE")
    ),
    Profile.APPEND: ProfilePrivileges(("USAGE",), ("INSERT",), ("USAGE",)),
    # What `pg_read_all_data` amounts to; held through that built-in role, never granted per schema.
    Profile.BACKUP: ProfilePrivileges(("USAGE",), ("SELECT",), ("SELECT",)),
}
"""Owners own their schema; on an existing `public` they get the schema privileges listed here."""


def profile_privileges(
    profile: Profile, server: str, database: str, schema: str, grantee: str, creator: str
) -> tuple[Privilege, ...]:
    """A profile's privileges for `grantee` on `schema`: on the schema, on its tables and sequences, and
    by default on those `creator` makes later -- in the order the provider resources are created."""
    table, sequence = ObjectType.TABLE, ObjectType.SEQUENCE
    wanted = PROFILE_PRIVILEGES[profile]

    def of(object_type: ObjectType, names: tuple[str, ...], default_for: str | None = None) -> list[Privilege]:
        return [Privilege(server, database, schema, object_type, grantee, n, default_for) for n in names]

    return (
        *of(ObjectType.SCHEMA, wanted.schema),
        *of(table, wanted.tables),
        *of(sequence, wanted.sequences),
        *of(table, wanted.tables, creator),
        *of(sequence, wanted.sequences, creator),
    )
