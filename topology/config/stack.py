"""The stack config's top level (keys of the `engarde:` namespace) and its objects besides the servers, with
the rules that span keys of several objects. Keys that name what the catalog holds (`images.<service>`,
`connectionLimits.<key>`, `servers.<name>`, `<server>AdminPassword`) are derived from it, never listed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from copy import copy
from functools import cached_property
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, create_model, model_validator

from topology.catalog import (
    BACKEND_PORT,
    BUILTIN_CONNECTION_LIMITS,
    DEFAULT_IMAGES,
    DEFAULT_SERVICE_CONNECTION_LIMIT,
    FLOWDB,
    LIMIT_KEYS,
    MAIN,
    SERVER_ENTRIES,
)
from topology.config.namespaces import NAMESPACE, ConfigOrigin
from topology.config.refusals import GENERATED, ConfigModel, engine_value, refuse
from topology.config.resolved import (
    SERVICE_HOSTS,
    BackupConfig,
    ExtraServiceConfig,
    ServerConfig,
    StackConfig,
    is_loopback,
)
from topology.config.servers import ContainerPostgresServer, Servers, servers_model
from topology.config.values import (
    AdminPassword,
    ConnectionLimit,
    DumpsKept,
    EnvText,
    Flag,
    HostName,
    HttpUrl,
    ImageRef,
    Interval,
    PoolMode,
    Port,
    SchemaName,
    SchemaNames,
    ServiceName,
    interval_seconds,
    one_of,
)
from topology.model import Mode, Placement
from topology.names import ConfigError, check_schema_name

ADMIN_PASSWORD_KEYS = {f"{server}AdminPassword": server for server in SERVER_ENTRIES}
"""`<server>AdminPassword` -> the server whose admin password it holds (when the server is external)."""


class Backups(ConfigModel):
    """How often each database is dumped, and how many dumps are kept."""

    schedule: Interval = "24h"
    """Interval between two backups of each database: a number and m, h or d (30m, 6h, 1d)."""
    keep: DumpsKept = 7
    """Dumps kept per database (retention by count)."""

    def resolve(self) -> BackupConfig:
        return BackupConfig(schedule=self.schedule, interval_seconds=interval_seconds(self.schedule), keep=self.keep)


class Service(ConfigModel):
    """A service the stack adds: a schema on main, owned by its login role <schema>_user, and a container with its
    DATABASE_URL."""

    image: ImageRef
    """Its image, pinned to a tag or digest (required)."""
    schema_name: SchemaName | None = Field(None, alias="schema")
    """The schema it owns on main. Default: the service's name, - as _."""
    port: Port = BACKEND_PORT
    """The port it listens on inside its container."""
    reads: SchemaNames = []
    """Other services' schemas on main it reads."""
    connection_limit: ConnectionLimit = Field(DEFAULT_SERVICE_CONNECTION_LIMIT, alias="connectionLimit")
    """CONNECTION LIMIT of its login role."""
    pool_mode: PoolMode = Field("session", alias="poolMode")
    """PgBouncer's pool mode for its pool (with pooler pgbouncer)."""

    @classmethod
    def check_given(cls, body: Mapping[str, Any]) -> None:
        if "image" not in body:
            raise refuse("is required", key="image")

    def resolve(self, name: str) -> ExtraServiceConfig:
        return ExtraServiceConfig(
            name=name,
            image=self.image,
            schema=self.schema_name or _schema_of(name),
            port=self.port,
            reads=tuple(self.reads),
            connection_limit=self.connection_limit,
            pool_mode=self.pool_mode,
        )


def _schema_of(service: str) -> str:
    return service.replace("-", "_")


def _schemas_named_after_services(services: dict[str, Service]) -> dict[str, Service]:
    """A service without `schema` gets one named after it: then the name itself is at fault, and named."""
    for name, service in services.items():
        if service.schema_name is None:
            try:
                check_schema_name("", _schema_of(name))
            except ConfigError as error:
                raise refuse(error.message, key=name) from None
    return services


Services = Annotated[
    dict[ServiceName, Service], AfterValidator(_schemas_named_after_services), BeforeValidator(engine_value(dict))
]


class CatalogKeys(ConfigModel):
    """An object whose keys are entries of the catalog, each with its default."""


def _catalog_keys(name: str, doc: str, keys: Mapping[str, tuple[Any, Any, str]]) -> type[CatalogKeys]:
    """A model of `keys`: key -> (type, default, description)."""
    fields: dict[str, Any] = {
        key.replace("-", "_"): (kind, Field(default, alias=key, description=description))
        for key, (kind, default, description) in keys.items()
    }
    return create_model(
        name, __base__=CatalogKeys, __doc__=doc, __module__=__name__, __cls_kwargs__=GENERATED, **fields
    )


def _roles_limited_by(key: str) -> str:
    return ", ".join(role for role, limit_key in LIMIT_KEYS.items() if limit_key == key)


Images = _catalog_keys(
    "Images",
    "The image of each service the stack runs, pinned to a tag or digest.",
    {service: (ImageRef, image, f"The image of {service}.") for service, image in DEFAULT_IMAGES.items()},
)
ConnectionLimits = _catalog_keys(
    "ConnectionLimits",
    "CONNECTION LIMIT of the built-in login roles.",
    {
        key: (ConnectionLimit, limit, f"CONNECTION LIMIT of {_roles_limited_by(key)}.")
        for key, limit in BUILTIN_CONNECTION_LIMITS.items()
    },
)
ServiceHosts = _catalog_keys(
    "ServiceHosts",
    "Host names the services' env uses for the services they call (runContainers false only: the stack's own "
    "containers reach each other by service name).",
    {service: (HostName, host, f"The host name of {service}.") for service, host in SERVICE_HOSTS.items()},
)


class ScalarSettings(ConfigModel):
    """The stack's scalar keys: Pulumi.yaml declares each, with the same default."""

    langflow_placement: Annotated[Placement, one_of(tuple(Placement))] = Field(
        Placement.DEDICATED, alias="langflowPlacement"
    )
    """Where Langflow's tables live: dedicated (its own PostgreSQL server, flowdb) or shared (a langflow schema on
    main)."""
    run_containers: Flag = Field(True, alias="runContainers")
    """Run the database servers (container mode) and the service containers on the Docker host; false exports
    outputs only."""
    protect: Flag = False
    """Protect every stateful resource (databases, schemas, data-owning roles, volumes, server containers) and retain
    volumes on delete."""
    cross_database_reads: Flag = Field(False, alias="crossDatabaseReads")
    """postgres_fdw on main: Langflow's tables on flowdb as foreign tables in schema langflow_remote, readable by
    analytics_readonly only (dedicated placement; main's admin must be a superuser)."""
    scheduler_base_url: HttpUrl = Field("http://localhost:8080", alias="schedulerBaseUrl")
    """BASE_URL of EasyAppointments (egm-scheduler), as users reach it."""
    langflow_superuser: EnvText = Field("admin", alias="langflowSuperuser")
    """Langflow's superuser login (its password is generated)."""
    allow_plaintext_secrets: Flag = Field(False, alias="allowPlaintextSecrets")
    """Accept an admin password (<server>AdminPassword) given in clear text instead of with
    `pulumi config set --secret`."""


SCALAR_DEFAULTS: dict[str, Any] = {
    field.alias or name: field.default for name, field in ScalarSettings.model_fields.items()
}
"""Declared in Pulumi.yaml with the same defaults (a test keeps the two equal)."""


class StackBase(ScalarSettings):
    """The stack config: the keys of the `engarde:` namespace. `StackSettings` is this with the catalog's keys."""

    servers: Servers = Field(default={}, validate_default=True)
    """The database servers: each in container mode unless said otherwise."""
    images: CatalogKeys = Field(default={}, validate_default=True)
    """The image of each service the stack runs."""
    services: Services = Field(default={}, json_schema_extra={"additionalProperties": False})
    """Services the stack adds, by name: each gets a schema on main, a login role and a container."""
    connection_limits: CatalogKeys = Field(default={}, alias="connectionLimits", validate_default=True)
    """CONNECTION LIMIT of the built-in login roles."""
    service_hosts: CatalogKeys = Field(default={}, alias="serviceHosts", validate_default=True)
    """Host names the env uses for backend, langflow-server and redis (runContainers false only)."""
    backups: Backups = Field(default={}, validate_default=True)
    """Backup schedule and retention."""

    @classmethod
    def listed_keys(cls) -> tuple[str, ...]:
        return tuple(sorted(cls.config_keys()))

    @cached_property
    def used_servers(self) -> dict[str, ServerConfig]:
        """The servers the stack runs or connects to (flowdb only with langflowPlacement dedicated)."""
        return {
            name: settings.resolve()
            for name, settings in self.servers.settings().items()
            if not (SERVER_ENTRIES[name].dedicated_to_langflow and self.langflow_placement is Placement.SHARED)
        }

    def admin_password(self, key: str) -> str | None:
        password: str | None = getattr(self, key)
        return password

    @model_validator(mode="after")
    def _admin_passwords_encrypted(self, info: ValidationInfo) -> Self:
        """With what the program knows of the config's origin: an admin password set in clear text is refused."""
        origin = info.context
        if not isinstance(origin, ConfigOrigin) or self.allow_plaintext_secrets:
            return self
        for key in ADMIN_PASSWORD_KEYS:
            if self.admin_password(key) is not None and key not in origin.secret_keys:
                raise refuse(
                    f"is in clear text in the stack's config: set it encrypted with pulumi config set --secret "
                    f"{NAMESPACE}:{key} <password> (or allow clear text with allowPlaintextSecrets: true)",
                    key=key,
                )
        return self

    @model_validator(mode="after")
    def _one_host_port_per_container(self) -> Self:
        """Two containers (servers or replicas) cannot be published on one host port."""
        settings = self.servers.settings()

        def described(server: str, replica: int | None) -> str:
            given: ConfigModel = settings[server]
            if replica is not None:
                assert isinstance(given, ContainerPostgresServer)
                given = given.replicas[replica]
            key = f"servers.{server}" + ("" if replica is None else f".replicas[{replica}]") + ".hostPort"
            return key + ("" if given.given("hostPort") else " (default)")

        published: dict[int, tuple[str, int | None]] = {}
        for name, server in self.used_servers.items():
            if server.mode is not Mode.CONTAINER or server.host_port is None:
                continue
            ports = [(server.host_port, None), *((r.host_port, i) for i, r in enumerate(server.replicas))]
            for port, replica in ports:
                assert port is not None
                other = published.setdefault(port, (name, replica))
                if other != (name, replica):
                    raise refuse(
                        f"{port} is also {described(*other)}: each container needs its own host port",
                        key=described(name, replica).removesuffix(" (default)"),
                    )
        return self

    @model_validator(mode="after")
    def _one_server_per_endpoint(self) -> Self:
        """Two servers (or replicas) at one host and port would be one server holding both layouts: its roles
        twice, `public` with two owners. A container is at 127.0.0.1:hostPort (its published port)."""
        endpoints: dict[tuple[str, int], str] = {}
        servers = self.used_servers
        for name, server in servers.items():
            if server.mode is Mode.CONTAINER:
                continue  # containers: `_one_host_port_per_container`; compared below with external servers
            assert server.host is not None and server.port is not None
            listed = [(f"servers.{name}.host", server.host, server.port)]
            listed += [
                (f"servers.{name}.replicas[{i}].host", replica.host, replica.port)
                for i, replica in enumerate(server.replicas)
                if replica.host is not None and replica.port is not None
            ]
            for key, host, port in listed:
                other = endpoints.setdefault((_endpoint_host(host), port), key)
                if other != key:
                    raise refuse(
                        f"{host}:{port} is also {other.removesuffix('.host')}'s host and port: "
                        "each server needs its own",
                        key=key,
                    )
        for name, server in servers.items():
            for host_port in [server.host_port, *(replica.host_port for replica in server.replicas)]:
                clash = endpoints.get((LOOPBACK, host_port)) if host_port is not None else None
                if clash is not None:
                    raise refuse(
                        f"{LOOPBACK}:{host_port} is servers.{name}'s container (its hostPort): "
                        "each server needs its own",
                        key=clash,
                    )
        return self

    @model_validator(mode="after")
    def _admin_passwords_of_external_servers(self) -> Self:
        for key, server in ADMIN_PASSWORD_KEYS.items():
            config = self.used_servers.get(server)
            if config is not None and config.mode is Mode.EXTERNAL and self.admin_password(key) is None:
                raise refuse(
                    f"is required because servers.{server}.mode is external: "
                    f"pulumi config set --secret {NAMESPACE}:{key} <password>",
                    key=key,
                )
        return self

    @model_validator(mode="after")
    def _containers_only_where_they_run(self) -> Self:
        if not self.run_containers:
            for name, config in self.used_servers.items():
                if config.mode is Mode.CONTAINER:
                    raise refuse(
                        "must be external when runContainers is false (no container can run)",
                        key=f"servers.{name}.mode",
                    )
        elif self.service_hosts.model_fields_set:
            raise refuse(
                "applies when runContainers is false (the stack's containers reach each other by service name)",
                key="serviceHosts",
            )
        return self

    @model_validator(mode="after")
    def _cross_database_reads_possible(self) -> Self:
        if not self.cross_database_reads:
            return self
        if self.langflow_placement is Placement.SHARED:
            raise refuse(
                "applies to langflowPlacement dedicated only (shared: Langflow's tables are on main already)",
                key="crossDatabaseReads",
            )
        main, flowdb = self.used_servers[MAIN], self.used_servers[FLOWDB]
        if not main.superuser:
            # postgres_fdw is not a trusted extension, and CREATE SERVER needs USAGE on its wrapper.
            raise refuse(
                "needs main's admin to be a superuser (servers.main.superuser is false): "
                "CREATE EXTENSION postgres_fdw is refused to any other role",
                key="crossDatabaseReads",
            )
        if main.mode is Mode.EXTERNAL and flowdb.mode is Mode.CONTAINER:
            raise refuse(
                "an external main cannot reach flowdb's container (servers.flowdb.mode is container): "
                "make flowdb external too, or main a container",
                key="crossDatabaseReads",
            )
        return self

    def resolve(self) -> StackConfig:
        """The config as the layout reads it: the servers in use, each in its mode, every default applied."""
        servers = dict(self.used_servers)
        return StackConfig(
            placement=self.langflow_placement,
            run_containers=self.run_containers,
            protect=self.protect,
            scheduler_base_url=self.scheduler_base_url,
            langflow_superuser=self.langflow_superuser,
            servers=servers,
            images=self.images.by_key(),
            extra_services=tuple(service.resolve(name) for name, service in self.services.items()),
            admin_password_keys={
                server: key
                for key, server in ADMIN_PASSWORD_KEYS.items()
                if server in servers and servers[server].mode is Mode.EXTERNAL
            },
            connection_limits=self.connection_limits.by_key(),
            service_hosts=self.service_hosts.by_key(),
            backups=self.backups.resolve(),
            cross_database_reads=self.cross_database_reads,
        )


LOOPBACK = "127.0.0.1"


def _endpoint_host(host: str) -> str:
    return LOOPBACK if is_loopback(host) else host.lower()


def _retyped(name: str, annotation: Any) -> tuple[Any, Any]:
    """`StackBase`'s field `name`, as `annotation` (its keys from the catalog)."""
    return annotation, copy(StackBase.model_fields[name])


_ADMIN_PASSWORDS: dict[str, Any] = {
    key: (
        AdminPassword | None,
        Field(None, repr=False, description=f"The admin password of server {server}, when it is external."),
    )
    for key, server in ADMIN_PASSWORD_KEYS.items()
}
StackSettings: type[StackBase] = create_model(
    "StackSettings",
    __base__=StackBase,
    __doc__="The stack config: the keys of the `engarde:` namespace.",
    __module__=__name__,
    __cls_kwargs__=GENERATED,
    servers=_retyped("servers", servers_model()),
    images=_retyped("images", Images),
    connection_limits=_retyped("connection_limits", ConnectionLimits),
    service_hosts=_retyped("service_hosts", ServiceHosts),
    **_ADMIN_PASSWORDS,
)
"""The stack config's model."""
