"""`servers.<name>`: a model per server of the catalog and mode, the two a union tagged by `mode`.

Both modes take every key, so one `mode` change switches a server: the other mode's keys are still checked,
then ignored (with a notice). A server's defaults come from its catalog entry (`topology.catalog.SERVERS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from copy import copy
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BeforeValidator, Discriminator, Field, Tag, create_model, model_validator
from pydantic.fields import FieldInfo

from topology.catalog import ENGINES, SERVER_ENTRIES, ServerEntry
from topology.config.refusals import GENERATED, ConfigModel, engine_value, refuse
from topology.config.resolved import ReplicaConfig, ServerConfig, is_loopback
from topology.config.server_images import image_runs, image_version_type
from topology.config.values import (
    DEFAULT_CHARACTER_SET,
    DEFAULT_COLLATION,
    DEFAULT_MAX_SLOT_WAL_KEEP_SIZE,
    PLAINTEXT_SSLMODES,
    VERIFYING_SSLMODES,
    AbsolutePath,
    CharacterSet,
    Collation,
    Flag,
    HostName,
    Identifier,
    ImageRef,
    MaxConnections,
    Pooler,
    Port,
    PostgresVersion,
    QueryWaitTimeout,
    ReservedConnections,
    RoleNames,
    SslMode,
    Text,
    WalSize,
)
from topology.model import Engine, Mode

MAX_REPLICAS = 4
"""Replicas per server: each holds one WAL sender of the primary's ten (`max_wal_senders`), two while
it bootstraps, so four leave room for a re-bootstrap and a base backup taken by hand."""
REPLICA_HOST_PORT_STEP = 100
"""A container replica's default host port: its primary's plus 100 for the first, 200 for the second..."""
DEFAULT_MAX_CONNECTIONS = {Mode.CONTAINER: 200, Mode.EXTERNAL: 100}
"""A container is started with 200; an external server is assumed at PostgreSQL's default unless declared."""

ENGINE_ONLY_SETTINGS = {
    Engine.MYSQL: ("adoptDatabase", "characterSet", "collation"),
    Engine.POSTGRESQL: (
        "version",
        "adminGrantsPgMonitor",
        "adminGrantsPgReadAllData",
        "adoptRoles",
        "allowMajorUpgrade",
    ),
}
"""Settings only one engine's servers have."""


class ContainerReplica(ConfigModel):
    """A read replica the stack runs as a container (streaming from its primary's container)."""

    host_port: Port | None = Field(None, alias="hostPort")
    """Host port it is published on (127.0.0.1); default: the primary's hostPort plus 100 for the first replica,
    200 for the second..."""

    @classmethod
    def check_given(cls, body: Mapping[str, Any]) -> None:
        for key in ("host", "port"):
            if key in body:
                raise refuse(
                    "declares an external server's replica; a container server's replicas take hostPort only", key=key
                )


class ExternalReplica(ConfigModel):
    """A read replica of an external server, which exists already."""

    host: HostName
    """Its host name or IP address."""
    port: Port = ENGINES[Engine.POSTGRESQL].port
    """Its port."""

    @classmethod
    def check_given(cls, body: Mapping[str, Any]) -> None:
        if "hostPort" in body:
            raise refuse("applies to a container server's replicas; declare host and port", key="hostPort")
        if "host" not in body:
            raise refuse("is required when the server's mode is external", key="host")


def _replica_list(value: Any) -> list[Any]:
    entries: list[Any] = engine_value(list)(value)
    if len(entries) > MAX_REPLICAS:
        raise refuse(f"lists {len(entries)} replicas: at most {MAX_REPLICAS} per server")
    return entries


ContainerReplicas = Annotated[list[ContainerReplica], Field(max_length=MAX_REPLICAS), BeforeValidator(_replica_list)]
ExternalReplicas = Annotated[list[ExternalReplica], Field(max_length=MAX_REPLICAS), BeforeValidator(_replica_list)]


class ServerSettings(ConfigModel):
    """What every server takes, in either mode. The model of its catalog entry (`server_type`) gives the defaults."""

    entry: ClassVar[ServerEntry]
    ignored: ClassVar[tuple[str, ...]]
    """Keys the mode does not use: checked (but for `unchecked`), then ignored (with a notice)."""
    unchecked: ClassVar[tuple[str, ...]] = ()
    """Keys the mode takes whatever their value: only a mode change makes them count, and checks them."""

    mode: Literal["container", "external"]
    """container: the stack runs the server as a container; external: the server exists (a managed one), and the
    stack connects to it."""
    image: ImageRef
    """Container mode: the server's image, pinned to a tag or digest: the engine's official image (or MariaDB's,
    for MySQL) of a supported version, or any image with imageVersion."""
    image_version: str | None = Field(None, alias="imageVersion")
    """Container mode: the version the image runs (a PostgreSQL major, 8 for MySQL 8, mariadb-10.5); required for
    an image whose tag does not say it. Default: read from the official image's tag."""
    host_port: Port = Field(alias="hostPort")
    """Container mode: the port the server is published on, on 127.0.0.1 (each container needs its own)."""
    database: Identifier
    """The database the layout lives in (external PostgreSQL: the existing one, adopted)."""
    host: HostName | None = None
    """External mode: the server's host name or IP address (required)."""
    port: Port = Field()
    """External mode: the server's port."""
    admin_user: Text = Field(alias="adminUser")
    """External mode: the role or user the stack connects as."""
    sslmode: SslMode = "require"
    """External mode: libpq's sslmode (for MySQL, require is TLS without verification, verify-* verified TLS);
    disable, allow and prefer need allowUnencrypted off loopback."""
    superuser: Flag = False
    """External mode: whether the admin is a superuser (if not, PostgreSQL needs version)."""
    sslrootcert: AbsolutePath | None = None
    """External PostgreSQL: the absolute path of the CA bundle (PEM) that signed the server's certificate, present
    at that path wherever the DSNs are used; required with sslmode verify-ca and verify-full, refused otherwise."""
    adopt_database: Flag = Field(False, alias="adoptDatabase")
    """External MySQL: import the existing database instead of creating it."""
    character_set: CharacterSet = Field(DEFAULT_CHARACTER_SET, alias="characterSet")
    """External MySQL: the database's character set (as the server has it, when adopted)."""
    collation: Collation = DEFAULT_COLLATION
    """External MySQL: the database's collation (as the server has it, when adopted)."""
    adopt_roles: RoleNames = Field([], alias="adoptRoles")
    """External PostgreSQL: roles of the layout that exist already, imported instead of created."""
    version: PostgresVersion | None = None
    """External PostgreSQL: the server's major version; required when superuser is false."""
    admin_grants_pg_monitor: Flag = Field(False, alias="adminGrantsPgMonitor")
    """External PostgreSQL: whether the admin holds pg_monitor WITH ADMIN OPTION (needed on 16+ without superuser)."""
    admin_grants_pg_read_all_data: Flag = Field(False, alias="adminGrantsPgReadAllData")
    """External PostgreSQL: whether the admin holds pg_read_all_data WITH ADMIN OPTION (the backup role needs it)."""
    allow_unencrypted: Flag = Field(False, alias="allowUnencrypted")
    """External mode: accept an sslmode that may go unencrypted to a host other than loopback (a warning says so)."""

    def resolve(self) -> ServerConfig:
        """The server as the stack uses it: its mode's settings, the ignored ones dropped."""
        raise NotImplementedError

    def postgres_settings(self) -> dict[str, Any]:
        """The `ServerConfig` fields only a PostgreSQL server has: none for MySQL."""
        return {}


class PostgresSettings(ServerSettings):
    """What a PostgreSQL server takes besides, in either mode: its connection budget and pooler, its replicas."""

    max_connections: MaxConnections = Field(alias="maxConnections")
    """Container: max_connections the server is started with; external: what its SHOW max_connections reports."""
    reserved_connections: ReservedConnections = Field(3, alias="reservedConnections")
    """superuser_reserved_connections."""
    pooler: Pooler = "none"
    """A PgBouncer in front of the server (pgbouncer), or none."""
    pooler_host: HostName = Field(alias="poolerHost")
    """The pooler's host name (its container's network alias)."""
    pooler_port: Port = Field(6432, alias="poolerPort")
    """The pooler's port."""
    pooler_query_wait_timeout: QueryWaitTimeout = Field(30, alias="poolerQueryWaitTimeout")
    """Seconds a client waits for its pool before it is refused."""
    replicas: Sequence[ConfigModel] = []
    """Read replicas (at most 4)."""
    max_slot_wal_keep_size: WalSize = Field(DEFAULT_MAX_SLOT_WAL_KEEP_SIZE, alias="maxSlotWalKeepSize")
    """Container servers with replicas: the most WAL a replication slot may hold (MB or GB)."""
    allow_major_upgrade: Flag = Field(False, alias="allowMajorUpgrade")
    """Container mode: accept an image of another major than the data volume holds, and start the server on a new
    volume (its dump restored by hand: docs/operations.md)."""

    def connection_settings(self) -> dict[str, Any]:
        return {
            "max_connections": self.max_connections,
            "reserved_connections": self.reserved_connections,
            "pooler": self.pooler,
            "pooler_host": self.pooler_host,
            "pooler_port": self.pooler_port,
            "pooler_query_wait_timeout": self.pooler_query_wait_timeout,
            "max_slot_wal_keep_size": self.max_slot_wal_keep_size,
        }


class ContainerServer(ServerSettings):
    """A server the stack runs as a container, published on 127.0.0.1."""

    ignored = (
        "host", "port", "adminUser", "sslmode", "superuser", "sslrootcert", "adoptDatabase", "characterSet",
        "collation", "adoptRoles", "version", "adminGrantsPgMonitor", "adminGrantsPgReadAllData", "allowUnencrypted",
    )  # fmt: skip
    unchecked = (
        "sslrootcert", "adoptDatabase", "characterSet", "collation", "adoptRoles", "version", "adminGrantsPgMonitor",
        "adminGrantsPgReadAllData",
    )  # fmt: skip
    """An external server's TLS, adoption and admin settings: a container server has never checked them
    (tests/topology/test_capabilities.py)."""

    mode: Literal["container"] = "container"
    """container (the default): the stack runs the server."""

    @model_validator(mode="after")
    def _image_runs_the_engine(self) -> Self:
        self.image_and_version()
        return self

    def image_and_version(self) -> tuple[str, str]:
        """The image and the version it runs."""
        return self.image, image_runs(self.entry.engine, self.image, self.image_version)

    def resolve(self) -> ServerConfig:
        image, version = self.image_and_version()
        return ServerConfig(
            name=self.entry.name,
            engine=self.entry.engine,
            mode=Mode.CONTAINER,
            database=self.database,
            image=image,
            image_version=version,
            host_port=self.host_port,
            admin_user=ENGINES[self.entry.engine].admin_user,
            **self.postgres_settings(),
        )


class ExternalServer(ServerSettings):
    """A server that exists already (a managed one): the stack connects to it."""

    ignored = ("image", "imageVersion", "hostPort", "allowMajorUpgrade")

    mode: Literal["external"]
    """external: the server exists, and the stack connects to it."""
    host: HostName
    """The server's host name or IP address."""

    @classmethod
    def check_given(cls, body: Mapping[str, Any]) -> None:
        if "host" not in body:
            raise refuse("is required when mode is external", key="host")
        if cls.entry.engine is Engine.MYSQL:
            for key in ("version", "adminGrantsPgMonitor", "adminGrantsPgReadAllData"):
                if key in body:
                    raise refuse("applies to PostgreSQL servers only", key=key)
            if "adoptRoles" in body:
                raise refuse("applies to PostgreSQL servers only (the scheduler's user is created)", key="adoptRoles")
        else:
            for key in ENGINE_ONLY_SETTINGS[Engine.MYSQL]:
                if key in body:
                    raise refuse("applies to MySQL only (an external PostgreSQL database is always adopted)", key=key)

    @model_validator(mode="after")
    def _encrypted_unless_allowed(self) -> Self:
        if self.sslmode in PLAINTEXT_SSLMODES and not is_loopback(self.host) and not self.allow_unencrypted:
            raise refuse(
                f"{self.sslmode} lets the connections to {self.host} go unencrypted: use require, verify-ca or "
                f"verify-full, or say so explicitly with servers.{self.entry.name}.allowUnencrypted: true",
                key="sslmode",
            )
        return self

    @model_validator(mode="after")
    def _ca_bundle_where_it_verifies(self) -> Self:
        """The CA bundle verifying a PostgreSQL server; required by verify-ca / verify-full.

        Without it libpq looks for `~/.postgresql/root.crt` of whoever connects, which a service
        container does not have: the DSNs would fail at runtime, so the stack refuses at plan time.
        """
        if self.entry.engine is Engine.MYSQL:
            if self.sslrootcert is not None:
                raise refuse(
                    "is not supported for MySQL: the mysql provider's tls verifies against the system trust "
                    "store of the machine running pulumi (sslmode verify-ca/verify-full); add the CA there",
                    key="sslrootcert",
                )
        elif self.sslrootcert is None and self.sslmode in VERIFYING_SSLMODES:
            raise refuse(
                f"is required when sslmode is {self.sslmode}: the absolute path of the CA bundle (PEM) "
                "that signed the server's certificate, present at that path wherever the DSNs are used",
                key="sslrootcert",
            )
        elif self.sslrootcert is not None and self.sslmode not in VERIFYING_SSLMODES:
            raise refuse(f"is only used with sslmode verify-ca or verify-full (got {self.sslmode})", key="sslrootcert")
        return self

    def resolve(self) -> ServerConfig:
        return ServerConfig(
            name=self.entry.name,
            engine=self.entry.engine,
            mode=Mode.EXTERNAL,
            database=self.database,
            host=self.host,
            port=self.port,
            admin_user=self.admin_user,
            sslmode=self.sslmode,
            allow_unencrypted=self.allow_unencrypted,
            superuser=self.superuser,
            version=self.version,
            admin_grants_pg_monitor=self.admin_grants_pg_monitor,
            admin_grants_pg_read_all_data=self.admin_grants_pg_read_all_data,
            sslrootcert=self.sslrootcert,
            adopt_database=self.adopt_database,
            character_set=self.character_set,
            collation=self.collation,
            adopt_roles=tuple(self.adopt_roles),
            **self.postgres_settings(),
        )


class ContainerPostgresServer(ContainerServer, PostgresSettings):
    """A PostgreSQL server the stack runs as a container."""

    replicas: ContainerReplicas = []
    """Read replicas, each a container streaming from this one: {hostPort} each (or {})."""

    def postgres_settings(self) -> dict[str, Any]:
        def host_port(index: int, replica: ContainerReplica) -> int:
            step = REPLICA_HOST_PORT_STEP * (index + 1)
            return replica.host_port if replica.host_port is not None else min(self.host_port + step, 65535)

        return {
            **self.connection_settings(),
            "allow_major_upgrade": self.allow_major_upgrade,
            "replicas": tuple(ReplicaConfig(host_port=host_port(i, r)) for i, r in enumerate(self.replicas)),
        }


class ExternalPostgresServer(ExternalServer, PostgresSettings):
    """A PostgreSQL server that exists already."""

    replicas: ExternalReplicas = []
    """Read replicas that exist already: {host, port} each."""

    @classmethod
    def check_given(cls, body: Mapping[str, Any]) -> None:
        super().check_given(body)
        if "maxSlotWalKeepSize" in body:
            raise refuse(
                "applies to container servers (a managed server's replication settings are its own)",
                key="maxSlotWalKeepSize",
            )

    @model_validator(mode="after")
    def _replicas_are_other_servers(self) -> Self:
        endpoints = [(replica.host, replica.port) for replica in self.replicas]
        for i, endpoint in enumerate(endpoints):
            if endpoint in endpoints[:i] or endpoint == (self.host, self.port):
                raise refuse(f"{endpoint[0]}:{endpoint[1]} is listed twice (or is the primary)", key=f"replicas[{i}]")
        return self

    def postgres_settings(self) -> dict[str, Any]:
        return {
            **self.connection_settings(),
            "max_connections_assumed": not self.given("maxConnections"),
            "replicas": tuple(ReplicaConfig(host=r.host, port=r.port) for r in self.replicas),
        }


MODEL_OF: dict[tuple[Engine, Mode], type[ServerSettings]] = {
    (Engine.POSTGRESQL, Mode.CONTAINER): ContainerPostgresServer,
    (Engine.POSTGRESQL, Mode.EXTERNAL): ExternalPostgresServer,
    (Engine.MYSQL, Mode.CONTAINER): ContainerServer,
    (Engine.MYSQL, Mode.EXTERNAL): ExternalServer,
}
"""The model of a server of each engine in each mode, before its catalog entry's defaults."""


def _with_default(field: FieldInfo, default: Any) -> tuple[Any, FieldInfo]:
    changed = copy(field)
    changed.default = default
    return field.annotation, changed


def _retyped(field: FieldInfo, annotation: Any, default: Any) -> tuple[Any, FieldInfo]:
    """`field` as `annotation` instead (its key and description kept, not its type's checks)."""
    return annotation, Field(default, alias=field.alias, description=field.description)


def _entry_model(entry: ServerEntry, mode: Mode) -> type[ServerSettings]:
    """The model of `servers.<entry.name>` in `mode`, with the entry's defaults."""
    base = MODEL_OF[entry.engine, mode]
    engine = ENGINES[entry.engine]
    defaults: dict[str, Any] = {
        "image": engine.image,
        "host_port": entry.host_port,
        "port": engine.port,
        "admin_user": engine.admin_user,
        "database": entry.container_database if mode is Mode.CONTAINER else entry.external_database,
    }
    if entry.engine is Engine.POSTGRESQL:
        defaults |= {"max_connections": DEFAULT_MAX_CONNECTIONS[mode], "pooler_host": f"{entry.name}-pgbouncer"}
    fields: dict[str, Any] = {
        name: _with_default(base.model_fields[name], default) for name, default in defaults.items()
    }
    fields["image_version"] = _retyped(base.model_fields["image_version"], image_version_type(entry.engine), None)
    for key in base.unchecked:
        name = base.field_name(key)
        fields[name] = _retyped(base.model_fields[name], Any, base.model_fields[name].default)
    model = create_model(
        f"{entry.name.capitalize()}{mode.value.capitalize()}Server",
        __base__=base,
        __doc__=f"Server {entry.name} ({entry.engine.value}), {mode.value} mode: {base.__doc__}",
        __module__=__name__,
        __cls_kwargs__=GENERATED,
        **fields,
    )
    model.entry = entry
    return model


def _server_body(value: Any) -> Any:
    body: dict[str, Any] = engine_value(dict)(value)
    mode = body.get("mode", Mode.CONTAINER.value)
    if mode not in (Mode.CONTAINER.value, Mode.EXTERNAL.value):
        raise refuse(f"must be one of container, external (got {mode!r})", key="mode")
    return body


def _mode_of(value: Any) -> str:
    return str(value.get("mode", Mode.CONTAINER.value) if isinstance(value, dict) else value.mode)


def server_type(entry: ServerEntry) -> Any:
    """`servers.<entry.name>`: its container model or its external one, as `mode` says (container by default)."""
    container: Any = _entry_model(entry, Mode.CONTAINER)
    external: Any = _entry_model(entry, Mode.EXTERNAL)
    variants = Annotated[container, Tag(Mode.CONTAINER.value)] | Annotated[external, Tag(Mode.EXTERNAL.value)]
    return Annotated[variants, Discriminator(_mode_of), BeforeValidator(_server_body)]


class Servers(ConfigModel):
    """Each server of the layout (main, flowdb, scheduler), in container mode unless said otherwise."""

    def settings(self) -> dict[str, ServerSettings]:
        """Each server's settings, by name."""
        return {name: getattr(self, name) for name in type(self).model_fields}


def servers_model() -> type[Servers]:
    """`servers`, one key per server of the catalog."""
    fields: dict[str, Any] = {
        name: (
            server_type(entry),
            Field(
                default={},
                validate_default=True,
                description=f"The {entry.engine.value} server {name}"
                + (" (langflowPlacement dedicated only)." if entry.dedicated_to_langflow else "."),
            ),
        )
        for name, entry in SERVER_ENTRIES.items()
    }
    return create_model("Servers", __base__=Servers, __module__=__name__, __cls_kwargs__=GENERATED, **fields)
