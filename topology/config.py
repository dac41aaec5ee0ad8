"""Stack config (namespace `engarde:`): parsing and validation, with the EnGarde defaults.

Values arrive as Pulumi passes them to a program (strings; objects and booleans JSON-encoded)
or already parsed (the offline renderer reads YAML). Every error is a `ConfigError` naming the key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from topology.capabilities import POSTGRES_VERSIONS, check_postgres_version
from topology.catalog import (
    BUILTIN_CONNECTION_LIMITS,
    DEFAULT_IMAGES,
    DEFAULT_SERVICE_CONNECTION_LIMIT,
    ENGINES,
    SERVER_ENTRIES,
)
from topology.model import Engine, Mode, Placement
from topology.names import (
    ConfigError,
    check_identifier,
    check_image,
    check_schema_name,
    check_service_name,
)

NAMESPACE = "engarde"

CONTAINER_KEYS = ("mode", "image", "imageVersion", "hostPort", "database")
EXTERNAL_KEYS = (
    "host", "port", "adminUser", "sslmode", "superuser", "sslrootcert",
    "adoptDatabase", "characterSet", "collation", "adoptRoles", "version", "adminGrantsPgMonitor",
    "adminGrantsPgReadAllData", "allowUnencrypted",
)  # fmt: skip
PLAINTEXT_SSLMODES = ("disable", "allow", "prefer")
"""sslmodes under which a connection may go unencrypted (libpq: `prefer` falls back to plain text)."""
DEFAULT_CHARACTER_SET = "utf8mb4"
DEFAULT_COLLATION = "utf8mb4_unicode_ci"
VERIFYING_SSLMODES = ("verify-ca", "verify-full")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
POSTGRES_CONNECTION_KEYS = (
    "maxConnections",
    "reservedConnections",
    "pooler",
    "poolerHost",
    "poolerPort",
    "poolerQueryWaitTimeout",
)
"""Connection budget and pooler settings of a PostgreSQL server (either mode)."""
POSTGRES_REPLICA_KEYS = ("replicas", "maxSlotWalKeepSize")
POSTGRES_CONTAINER_KEYS = ("allowMajorUpgrade",)
"""A PostgreSQL container server's: a new major on a new data volume (topology/upgrades.py)."""
"""Read replicas of a PostgreSQL server (either mode) and, for a container, the WAL its slots may hold."""
MAX_REPLICAS = 4
"""Replicas per server: each holds one WAL sender of the primary's ten (`max_wal_senders`), two while
it bootstraps, so four leave room for a re-bootstrap and a base backup taken by hand."""
REPLICA_HOST_PORT_STEP = 100
"""A container replica's default host port: its primary's plus 100 for the first, 200 for the second..."""
DEFAULT_MAX_SLOT_WAL_KEEP_SIZE = "10GB"
_WAL_SIZE = re.compile(r"([1-9][0-9]{0,6})(MB|GB)")
DEFAULT_MAX_CONNECTIONS = {Mode.CONTAINER: 200, Mode.EXTERNAL: 100}
"""A container is started with 200; an external server is assumed at PostgreSQL's default unless declared."""
POOLERS = ("none", "pgbouncer")
POOL_MODES = ("session", "transaction")
MAX_CONNECTION_LIMIT = 10000
SCALAR_DEFAULTS: dict[str, Any] = {
    "langflowPlacement": Placement.DEDICATED.value,
    "runContainers": True,
    "protect": False,
    "schedulerBaseUrl": "http://localhost:8080",
    "langflowSuperuser": "admin",
    "crossDatabaseReads": False,
    "allowPlaintextSecrets": False,
}
"""Declared in Pulumi.yaml with the same defaults (a test keeps the two equal)."""

OBJECT_KEYS = ("servers", "images", "services", "connectionLimits", "serviceHosts", "backups")
ADMIN_PASSWORD_KEYS = {f"{server}AdminPassword": server for server in SERVER_ENTRIES}
KNOWN_KEYS = frozenset(SCALAR_DEFAULTS) | frozenset(OBJECT_KEYS) | frozenset(ADMIN_PASSWORD_KEYS)


ENV_UNSAFE_CHARACTERS = "'\"\\$`"
"""Characters a value written into the services' env files may not hold: no quoting reads them the same in
python-dotenv, docker compose and sh in every combination (review/exports/env.py), so such a value is refused
here, naming its key, instead of when `review env` writes the file."""


@dataclass(frozen=True)
class ConfigOrigin:
    """What the program knows of its config beyond the `engarde:` values (the Pulumi SDK's config map and
    secret keys; offline, the stack file)."""

    secret_keys: frozenset[str] = frozenset()
    """`engarde:` keys (namespace stripped) whose value was given as a secret."""
    other_keys: frozenset[str] = frozenset()
    """Keys of every other namespace, namespace included (`docker:host`)."""


SERVICE_HOSTS = {"backend": "backend", "langflow-server": "langflow-server", "redis": "redis"}
"""Host names other services reach these by (their container aliases); `serviceHosts` overrides
them for a platform that names its services otherwise (prod: runContainers false)."""


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
class ReplicaConfig:
    """One read replica of a PostgreSQL server: a container the stack runs (its host port), or an
    existing one (its host and port)."""

    host_port: int | None = None
    host: str | None = None
    port: int | None = None


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


BACKUP_UNITS = {"m": 60, "h": 3600, "d": 86400}


def _backups(raw: Any) -> BackupConfig:
    body: dict[str, Any] = _decode("backups", raw, dict)
    _check_keys("backups", body, ("schedule", "keep"))
    schedule = _decode("backups.schedule", body.get("schedule", BackupConfig.schedule), str)
    number, unit = schedule[:-1], schedule[-1:]
    if unit not in BACKUP_UNITS or not number.isdigit() or int(number) == 0:
        raise ConfigError("backups.schedule", f"must be an interval such as 30m, 6h or 1d (got {schedule!r})")
    keep: int = _decode("backups.keep", body.get("keep", BackupConfig.keep), int)
    if not 1 <= keep <= 1000:
        raise ConfigError("backups.keep", f"must be between 1 and 1000 (got {keep})")
    return BackupConfig(schedule=schedule, interval_seconds=int(number) * BACKUP_UNITS[unit], keep=keep)


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


def _decode(key: str, value: Any, kind: type) -> Any:
    if isinstance(value, str) and kind is not str:
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(key, f"must be {_kind_name(kind)} (could not parse the value)") from None
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(key, f"must be {_kind_name(kind)} (got {type(value).__name__})")
    return value


def _kind_name(kind: type) -> str:
    return {bool: "true or false", int: "an integer", str: "a string", dict: "an object", list: "a list"}[kind]


def _check_keys(key: str, value: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for name in value:
        if name not in allowed:
            prefix = f"{key}." if key else ""
            raise ConfigError(f"{prefix}{name}", f"unknown key (allowed: {', '.join(allowed)})")


def _port(key: str, value: Any) -> int:
    port: int = _decode(key, value, int)
    if not 1 <= port <= 65535:
        raise ConfigError(key, f"must be a port number between 1 and 65535 (got {port})")
    return port


def _text(key: str, value: Any) -> str:
    text: str = _decode(key, value, str)
    if not text.strip():
        raise ConfigError(key, "must not be empty")
    return text


def _hostname(key: str, value: Any) -> str:
    host = _text(key, value)
    if any(c.isspace() or c in "/@?#" or c in ENV_UNSAFE_CHARACTERS for c in host):
        raise ConfigError(key, "must be a host name or IP address")
    return host


def _env_text(key: str, value: Any) -> str:
    """A string the services' env files carry as it is."""
    text = _text(key, value)
    for position, character in enumerate(text, start=1):
        if character in ENV_UNSAFE_CHARACTERS or not character.isprintable():
            raise ConfigError(
                key,
                f"must not hold quotes, backslashes, '$', '`' or control characters such as a newline "
                f"(an env file cannot carry them; {character!r} at position {position})",
            )
    return text


def _sslmode(key: str, value: Any) -> str:
    sslmode: str = _decode(key, value, str)
    if sslmode not in SSLMODES:
        raise ConfigError(key, f"must be one of {', '.join(SSLMODES)} (got {sslmode!r})")
    return sslmode


def _mode(key: str, value: Any) -> Mode:
    if value not in (Mode.CONTAINER.value, Mode.EXTERNAL.value):
        raise ConfigError(key, f"must be one of container, external (got {value!r})")
    return Mode(value)


SERVER_SETTING_CHECKS: dict[str, Callable[[str, Any], object]] = {
    "mode": _mode,
    "image": check_image,
    "hostPort": _port,
    "database": check_identifier,
    "host": _hostname,
    "port": _port,
    "adminUser": _text,
    "sslmode": _sslmode,
    "superuser": lambda key, value: _decode(key, value, bool),
    "allowUnencrypted": lambda key, value: _decode(key, value, bool),
    "imageVersion": lambda key, value: _decode(key, value, int),
    "allowMajorUpgrade": lambda key, value: _decode(key, value, bool),
}
"""How each server setting is checked, whether or not the server's mode uses it."""

IGNORED_SETTINGS: dict[Mode, tuple[str, ...]] = {
    Mode.CONTAINER: EXTERNAL_KEYS,
    Mode.EXTERNAL: ("image", "imageVersion", "hostPort", "allowMajorUpgrade"),
}
"""Settings a server keeps but does not use in this mode (one `mode` change switches it)."""


def _check_server_settings(key: str, body: Mapping[str, Any], settings: tuple[str, ...]) -> None:
    """Validate `settings` present in `body`: a value the mode ignores must still be a valid one."""
    for setting in settings:
        check = SERVER_SETTING_CHECKS.get(setting)
        if setting in body and check is not None:
            check(f"{key}.{setting}", body[setting])


def _check_host_ports(servers: Mapping[str, ServerConfig], raw: Mapping[str, Any]) -> None:
    """Two containers (servers or replicas) cannot be published on one host port."""

    def explicit(server_name: str, replica: int | None) -> bool:
        body = raw.get(server_name)
        if not isinstance(body, Mapping):
            return False
        if replica is None:
            return "hostPort" in body
        entries = body.get("replicas")
        return isinstance(entries, list) and isinstance(entries[replica], Mapping) and "hostPort" in entries[replica]

    def described(server_name: str, replica: int | None) -> str:
        key = f"servers.{server_name}" + ("" if replica is None else f".replicas[{replica}]") + ".hostPort"
        return key + ("" if explicit(server_name, replica) else " (default)")

    published: dict[int, tuple[str, int | None]] = {}
    for name, server in servers.items():
        if server.mode is not Mode.CONTAINER or server.host_port is None:
            continue
        ports = [(server.host_port, None), *((r.host_port, i) for i, r in enumerate(server.replicas))]
        for port, replica in ports:
            assert port is not None
            other = published.setdefault(port, (name, replica))
            if other != (name, replica):
                raise ConfigError(
                    described(name, replica).removesuffix(" (default)"),
                    f"{port} is also {described(*other)}: each container needs its own host port",
                )


def _check_unused_server(key: str, raw: Any) -> None:
    body: dict[str, Any] = _decode(key, raw, dict)
    _check_keys(key, body, CONTAINER_KEYS + EXTERNAL_KEYS + _connection_keys(Engine.POSTGRESQL))
    _check_server_settings(key, body, tuple(SERVER_SETTING_CHECKS))


def _service_hosts(raw: Mapping[str, Any], run_containers: bool) -> dict[str, str]:
    given: dict[str, Any] = _decode("serviceHosts", raw.get("serviceHosts", {}), dict)
    _check_keys("serviceHosts", given, tuple(SERVICE_HOSTS))
    if given and run_containers:
        raise ConfigError(
            "serviceHosts",
            "applies when runContainers is false (the stack's containers reach each other by service name)",
        )
    return {
        name: _hostname(f"serviceHosts.{name}", given.get(name, default)) for name, default in SERVICE_HOSTS.items()
    }


def _http_url(key: str, value: Any) -> str:
    url = _env_text(key, value)
    scheme, separator, rest = url.partition("://")
    if scheme not in ("http", "https") or not separator or not rest or rest[0] in "/?#":
        raise ConfigError(key, "must be an http:// or https:// URL with a host, e.g. https://book.example.com")
    return url


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine (its connections never leave it)."""
    return host == "localhost" or host == "::1" or host.startswith("127.")


def config_notices(raw: Mapping[str, Any]) -> list[str]:
    """Every notice and warning the config gives, as `pulumi preview` and `review plan` both print them (call
    after `load_topology`: the config is valid)."""
    config = parse_config(raw)
    return [*ignored_settings(raw, config), *unencrypted_warnings(config), *scheduler_tls_warnings(config)]


def unencrypted_warnings(config: StackConfig) -> list[str]:
    """One warning per external server allowed to connect without TLS off this machine."""
    return [
        f"warning: {NAMESPACE}:servers.{name}.sslmode is {server.sslmode}: connections to {server.host} may go "
        f"unencrypted (servers.{name}.allowUnencrypted is true)"
        for name, server in config.servers.items()
        if server.mode is Mode.EXTERNAL
        and server.sslmode in PLAINTEXT_SSLMODES
        and server.host is not None
        and not is_loopback(server.host)
    ]


def scheduler_tls_warnings(config: StackConfig) -> list[str]:
    """EasyAppointments 1.5.0 cannot be told to use TLS through its env (CodeIgniter's mysqli driver with
    `encrypt` unset): where the scheduler's server is reached with TLS, its user does not require it, and
    this says so."""
    server = config.servers.get("scheduler")
    if server is None or server.mode is not Mode.EXTERNAL or server.sslmode in PLAINTEXT_SSLMODES:
        return []
    return [
        f"warning: {NAMESPACE}:servers.scheduler.sslmode is {server.sslmode}, but EasyAppointments 1.5.0 has no "
        f"setting for TLS: egm-scheduler connects to {server.host} unencrypted (scheduler_user does not require TLS)"
    ]


def ignored_settings(raw: Mapping[str, Any], config: StackConfig) -> list[str]:
    """One notice per setting the raw config holds but the stack (`config`, parsed from it) does not use."""
    servers_raw: dict[str, Any] = _decode("servers", raw.get("servers", {}), dict)
    notices = []
    for name, body_raw in servers_raw.items():
        body: dict[str, Any] = _decode(f"servers.{name}", body_raw, dict)
        if name not in config.servers:
            notices += [
                f"notice: {NAMESPACE}:servers.{name}.{setting} is ignored: langflowPlacement is shared"
                for setting in body
            ]
            continue
        server = config.servers[name]
        notices += [
            f"notice: {NAMESPACE}:servers.{name}.{setting} is ignored: {_ignored_because(name, server, setting)}"
            for setting in IGNORED_SETTINGS[server.mode]
            if setting in body
        ]
    return notices


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


def _ignored_because(name: str, server: ServerConfig, setting: str) -> str:
    for engine, settings in ENGINE_ONLY_SETTINGS.items():
        if setting in settings and server.engine is not engine:
            return f"it applies to {engine.value} servers only, and {name} is a {server.engine.value} server"
    return f"servers.{name}.mode is {server.mode.value}"


SERVER_IMAGES = {Engine.POSTGRESQL: "postgres", Engine.MYSQL: "mysql"}
"""The official image of each engine: a server of that engine runs it, or says its version."""
MARIADB_IMAGE = "mariadb"
"""MariaDB's official image, which a MySQL server may run at a release in `SERVER_VERSIONS`."""
SERVER_VERSIONS: dict[Engine, tuple[str, ...]] = {
    Engine.POSTGRESQL: tuple(map(str, POSTGRES_VERSIONS)),
    # MariaDB up to 10.9 only: the mysql provider (terraform-provider-mysql v1.9.0) reads
    # `@@GLOBAL.innodb_version` before it creates a user, which MariaDB 10.10+ does not have; 10.5 is
    # the release the tests run.
    Engine.MYSQL: ("8", "mariadb-10.5"),
}
"""What a server of each engine may run: PostgreSQL and MySQL majors, `mariadb-<release>`."""


def _image_version(image: str) -> tuple[str, str]:
    """(the image's name without registry or tag, the version its official tag names or "")."""
    reference = image.partition("@")[0]
    repository, _, tag = reference.rpartition(":") if ":" in reference.rsplit("/", 1)[-1] else (reference, "", "")
    name = repository.rsplit("/", 1)[-1]
    release = tag.split("-", 1)[0].split(".")
    if name == MARIADB_IMAGE:
        return name, f"mariadb-{'.'.join(release[:2])}" if len(release) >= 2 and all(release[:2]) else ""
    return name, release[0] if release[0].isdigit() else ""


def _server_image(key: str, body: Mapping[str, Any], engine: Engine) -> tuple[str, str]:
    """A container server's image and the version it runs (one of `SERVER_VERSIONS`): the engine's official
    image (or MariaDB's, for MySQL) at a supported version, or any other image with `imageVersion` declared."""
    image = check_image(f"{key}.image", body.get("image", ENGINES[engine].image))
    supported = SERVER_VERSIONS[engine]
    allowed = ", ".join(supported)
    official = SERVER_IMAGES[engine]
    name, version = _image_version(image)
    other_engines = {other for other, image_name in SERVER_IMAGES.items() if image_name == name and other != engine}
    if other_engines or (engine is Engine.POSTGRESQL and name == MARIADB_IMAGE):
        raise ConfigError(
            f"{key}.image", f"runs another engine than the server's ({engine.value}): use a {official} image"
        )
    if "imageVersion" in body:
        declared = body["imageVersion"]
        if isinstance(declared, bool) or not isinstance(declared, int | str):
            raise ConfigError(f"{key}.imageVersion", f"must be one of {allowed} (got {declared!r})")
        if str(declared) not in supported:
            raise ConfigError(f"{key}.imageVersion", f"must be one of {allowed} (got {declared})")
        if name in (official, MARIADB_IMAGE) and version and version != str(declared):
            raise ConfigError(f"{key}.imageVersion", f"is {declared}, but image {image!r} runs {version}")
        return image, str(declared)
    if name not in (official, MARIADB_IMAGE) or not version:
        raise ConfigError(
            f"{key}.imageVersion",
            f"is required for image {image!r}: the {engine.value} major version it runs ({allowed}); "
            f"an official {official}:<version> image needs none",
        )
    if version not in supported:
        raise ConfigError(f"{key}.image", f"must run {engine.value} {allowed} (got {image!r})")
    return image, version


def _server(name: str, raw: Any) -> ServerConfig:
    key = f"servers.{name}"
    body: dict[str, Any] = _decode(key, raw, dict)
    entry = SERVER_ENTRIES[name]
    engine = entry.engine
    mode_value = body.get("mode", Mode.CONTAINER.value)
    if mode_value not in (Mode.CONTAINER.value, Mode.EXTERNAL.value):
        raise ConfigError(f"{key}.mode", f"must be one of container, external (got {mode_value!r})")
    mode = Mode(mode_value)
    _check_server_settings(key, body, IGNORED_SETTINGS[mode])
    if mode is Mode.CONTAINER:
        # The other mode's settings are ignored, so one `mode` change switches a server.
        _check_keys(key, body, CONTAINER_KEYS + EXTERNAL_KEYS + _connection_keys(engine))
        image, image_version = _server_image(key, body, engine)
        return ServerConfig(
            name=name,
            engine=engine,
            mode=mode,
            database=check_identifier(f"{key}.database", body.get("database", entry.container_database)),
            image=image,
            image_version=image_version,
            allow_major_upgrade=_decode(f"{key}.allowMajorUpgrade", body.get("allowMajorUpgrade", False), bool),
            host_port=_port(f"{key}.hostPort", body.get("hostPort", entry.host_port)),
            admin_user=ENGINES[engine].admin_user,
        )
    _check_keys(key, body, CONTAINER_KEYS + EXTERNAL_KEYS + _connection_keys(engine))
    if "host" not in body:
        raise ConfigError(f"{key}.host", "is required when mode is external")
    sslmode = _sslmode(f"{key}.sslmode", body.get("sslmode", "require"))
    superuser: bool = _decode(f"{key}.superuser", body.get("superuser", False), bool)
    version, admin_grants_pg_monitor, admin_grants_pg_read_all_data = _postgres_admin(key, body, engine)
    host = _hostname(f"{key}.host", body["host"])
    allow_unencrypted: bool = _decode(f"{key}.allowUnencrypted", body.get("allowUnencrypted", False), bool)
    if sslmode in PLAINTEXT_SSLMODES and not is_loopback(host) and not allow_unencrypted:
        raise ConfigError(
            f"{key}.sslmode",
            f"{sslmode} lets the connections to {host} go unencrypted: use require, verify-ca or verify-full, "
            f"or say so explicitly with {key}.allowUnencrypted: true",
        )
    return ServerConfig(
        name=name,
        engine=engine,
        mode=mode,
        database=check_identifier(f"{key}.database", body.get("database", entry.external_database)),
        host=host,
        port=_port(f"{key}.port", body.get("port", ENGINES[engine].port)),
        admin_user=_text(f"{key}.adminUser", body.get("adminUser", ENGINES[engine].admin_user)),
        sslmode=sslmode,
        allow_unencrypted=allow_unencrypted,
        superuser=superuser,
        version=version,
        admin_grants_pg_monitor=admin_grants_pg_monitor,
        admin_grants_pg_read_all_data=admin_grants_pg_read_all_data,
        sslrootcert=_sslrootcert(key, engine, sslmode, body.get("sslrootcert")),
        **_adoption(key, engine, body),
    )


_CHARSET_NAME = re.compile(r"[a-z0-9_]+")


def _adoption(key: str, engine: Engine, body: Mapping[str, Any]) -> dict[str, Any]:
    """What an external server already holds that the stack takes over (imports) instead of creating.

    MySQL: `adoptDatabase` imports the existing database; its `characterSet` / `collation` must be
    what the server has, because an import only succeeds when the program's inputs equal what the
    provider reads (hashicorp/terraform-provider-mysql resource_database.go: ReadDatabase).
    PostgreSQL: the database is always adopted; `adoptRoles` lists existing roles to import.
    """
    mysql_only = ("adoptDatabase", "characterSet", "collation")
    if engine is Engine.POSTGRESQL:
        for name in mysql_only:
            if name in body:
                raise ConfigError(
                    f"{key}.{name}", "applies to MySQL only (an external PostgreSQL database is always adopted)"
                )
        raw: list[Any] = _decode(f"{key}.adoptRoles", body.get("adoptRoles", []), list)
        roles = tuple(check_identifier(f"{key}.adoptRoles[{i}]", role) for i, role in enumerate(raw))
        if len(set(roles)) != len(roles):
            raise ConfigError(f"{key}.adoptRoles", "lists a role twice")
        return {"adopt_roles": roles}
    if "adoptRoles" in body:
        raise ConfigError(f"{key}.adoptRoles", "applies to PostgreSQL servers only (the scheduler's user is created)")
    settings: dict[str, Any] = {
        "adopt_database": _decode(f"{key}.adoptDatabase", body.get("adoptDatabase", False), bool)
    }
    for name, field_name, default in (
        ("characterSet", "character_set", DEFAULT_CHARACTER_SET),
        ("collation", "collation", DEFAULT_COLLATION),
    ):
        value = _text(f"{key}.{name}", body.get(name, default))
        if not _CHARSET_NAME.fullmatch(value):
            raise ConfigError(f"{key}.{name}", f"must be a MySQL {name} name such as {default} (got {value!r})")
        settings[field_name] = value
    return settings


def _sslrootcert(key: str, engine: Engine, sslmode: str, raw: Any) -> str | None:
    """The CA bundle verifying a PostgreSQL server; required by verify-ca / verify-full.

    Without it libpq looks for `~/.postgresql/root.crt` of whoever connects, which a service
    container does not have: the DSNs would fail at runtime, so the stack refuses at plan time.
    """
    name = f"{key}.sslrootcert"
    if engine is Engine.MYSQL:
        if raw is not None:
            raise ConfigError(
                name,
                "is not supported for MySQL: the mysql provider's tls verifies against the system trust "
                "store of the machine running pulumi (sslmode verify-ca/verify-full); add the CA there",
            )
        return None
    if raw is None:
        if sslmode in VERIFYING_SSLMODES:
            raise ConfigError(
                name,
                f"is required when sslmode is {sslmode}: the absolute path of the CA bundle (PEM) "
                "that signed the server's certificate, present at that path wherever the DSNs are used",
            )
        return None
    path = _text(name, raw)
    if sslmode not in VERIFYING_SSLMODES:
        raise ConfigError(name, f"is only used with sslmode verify-ca or verify-full (got {sslmode})")
    if not path.startswith("/") or any(c.isspace() for c in path):
        raise ConfigError(name, f"must be an absolute path without spaces (got {path!r})")
    return path


def _postgres_admin(key: str, body: Mapping[str, Any], engine: Engine) -> tuple[int | None, bool, bool]:
    """An external PostgreSQL server's `version`, `adminGrantsPgMonitor` and `adminGrantsPgReadAllData`
    (MySQL servers have none of them)."""
    if engine is not Engine.POSTGRESQL:
        for name in ("version", "adminGrantsPgMonitor", "adminGrantsPgReadAllData"):
            if name in body:
                raise ConfigError(f"{key}.{name}", "applies to PostgreSQL servers only")
        return None, False, False
    version: int | None = None
    if "version" in body:
        version = _decode(f"{key}.version", body["version"], int)
        check_postgres_version(f"{key}.version", version)
    return (
        version,
        _decode(f"{key}.adminGrantsPgMonitor", body.get("adminGrantsPgMonitor", False), bool),
        _decode(f"{key}.adminGrantsPgReadAllData", body.get("adminGrantsPgReadAllData", False), bool),
    )


def _extra_service(name: str, raw: Any) -> ExtraServiceConfig:
    key = f"services.{name}"
    check_service_name(key, name)
    body: dict[str, Any] = _decode(key, raw, dict)
    _check_keys(key, body, ("image", "schema", "port", "reads", "connectionLimit", "poolMode"))
    if "image" not in body:
        raise ConfigError(f"{key}.image", "is required")
    reads_raw: list[Any] = _decode(f"{key}.reads", body.get("reads", []), list)
    reads = tuple(check_identifier(f"{key}.reads[{i}]", schema) for i, schema in enumerate(reads_raw))
    if len(set(reads)) != len(reads):
        twice = next(schema for i, schema in enumerate(reads) if schema in reads[:i])
        raise ConfigError(f"{key}.reads", f"lists schema {twice!r} twice")
    return ExtraServiceConfig(
        name=name,
        image=check_image(f"{key}.image", body["image"]),
        # Without an explicit schema the name itself is at fault: name that key.
        schema=check_schema_name(
            f"{key}.schema" if "schema" in body else key, body.get("schema", name.replace("-", "_"))
        ),
        port=_port(f"{key}.port", body.get("port", 8000)),
        reads=reads,
        connection_limit=_connection_limit(
            f"{key}.connectionLimit", body.get("connectionLimit", DEFAULT_SERVICE_CONNECTION_LIMIT)
        ),
        pool_mode=_choice(f"{key}.poolMode", body.get("poolMode", "session"), POOL_MODES),
    )


def _connection_keys(engine: Engine) -> tuple[str, ...]:
    if engine is not Engine.POSTGRESQL:
        return ()
    return POSTGRES_CONNECTION_KEYS + POSTGRES_REPLICA_KEYS + POSTGRES_CONTAINER_KEYS


def _replicas(config: ServerConfig, body: Mapping[str, Any]) -> tuple[ReplicaConfig, ...]:
    """`servers.<name>.replicas`: a list of objects, `{hostPort}` for a container server's replicas
    (each defaults to the primary's host port plus 100, 200, ...), `{host, port}` for an external one's."""
    key = f"servers.{config.name}.replicas"
    entries: list[Any] = _decode(key, body.get("replicas", []), list)
    if len(entries) > MAX_REPLICAS:
        raise ConfigError(key, f"lists {len(entries)} replicas: at most {MAX_REPLICAS} per server")
    replicas = []
    for i, raw in enumerate(entries):
        entry_key = f"{key}[{i}]"
        entry: dict[str, Any] = _decode(entry_key, raw, dict)
        if config.mode is Mode.CONTAINER:
            for other_mode_key in ("host", "port"):
                if other_mode_key in entry:
                    raise ConfigError(
                        f"{entry_key}.{other_mode_key}",
                        "declares an external server's replica; a container server's replicas take hostPort only",
                    )
            _check_keys(entry_key, entry, ("hostPort",))
            assert config.host_port is not None
            default_port = config.host_port + REPLICA_HOST_PORT_STEP * (i + 1)
            port = _port(f"{entry_key}.hostPort", entry.get("hostPort", min(default_port, 65535)))
            replicas.append(ReplicaConfig(host_port=port))
            continue
        if "hostPort" in entry:
            raise ConfigError(
                f"{entry_key}.hostPort", "applies to a container server's replicas; declare host and port"
            )
        _check_keys(entry_key, entry, ("host", "port"))
        if "host" not in entry:
            raise ConfigError(f"{entry_key}.host", "is required when the server's mode is external")
        replicas.append(
            ReplicaConfig(
                host=_hostname(f"{entry_key}.host", entry["host"]),
                port=_port(f"{entry_key}.port", entry.get("port", ENGINES[config.engine].port)),
            )
        )
    endpoints = [(r.host, r.port) for r in replicas if r.host is not None]
    for i, endpoint in enumerate(endpoints):
        if endpoint in endpoints[:i] or endpoint == (config.host, config.port):
            raise ConfigError(f"{key}[{i}]", f"{endpoint[0]}:{endpoint[1]} is listed twice (or is the primary)")
    return tuple(replicas)


def _max_slot_wal_keep_size(config: ServerConfig, body: Mapping[str, Any]) -> str:
    key = f"servers.{config.name}.maxSlotWalKeepSize"
    if "maxSlotWalKeepSize" in body and config.mode is Mode.EXTERNAL:
        raise ConfigError(key, "applies to container servers (a managed server's replication settings are its own)")
    value = _text(key, body.get("maxSlotWalKeepSize", DEFAULT_MAX_SLOT_WAL_KEEP_SIZE))
    if not _WAL_SIZE.fullmatch(value):
        raise ConfigError(key, f"must be a size in MB or GB such as 10GB (got {value!r})")
    return value


def _bounded(key: str, value: Any, low: int, high: int) -> int:
    number: int = _decode(key, value, int)
    if not low <= number <= high:
        raise ConfigError(key, f"must be an integer between {low} and {high} (got {number})")
    return number


def _connection_limit(key: str, value: Any) -> int:
    return _bounded(key, value, 1, MAX_CONNECTION_LIMIT)


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    text: str = _decode(key, value, str)
    if text not in allowed:
        shown = repr(text) if len(text) <= 40 else repr(text[:37] + "...")
        raise ConfigError(key, f"must be one of {', '.join(allowed)} (got {shown})")
    return text


def _with_connections(config: ServerConfig, raw: Any) -> ServerConfig:
    """A PostgreSQL server's connection budget and pooler settings (`_server` has checked the keys)."""
    if config.engine is not Engine.POSTGRESQL:
        return config
    key = f"servers.{config.name}"
    body: dict[str, Any] = _decode(key, raw, dict)
    default_max = DEFAULT_MAX_CONNECTIONS[config.mode]
    return replace(
        config,
        max_connections=_bounded(f"{key}.maxConnections", body.get("maxConnections", default_max), 1, 262143),
        max_connections_assumed=config.mode is Mode.EXTERNAL and "maxConnections" not in body,
        reserved_connections=_bounded(f"{key}.reservedConnections", body.get("reservedConnections", 3), 0, 1000),
        pooler=_choice(f"{key}.pooler", body.get("pooler", "none"), POOLERS),
        pooler_host=_hostname(f"{key}.poolerHost", body.get("poolerHost", f"{config.name}-pgbouncer")),
        pooler_port=_port(f"{key}.poolerPort", body.get("poolerPort", 6432)),
        pooler_query_wait_timeout=_bounded(
            f"{key}.poolerQueryWaitTimeout", body.get("poolerQueryWaitTimeout", 30), 1, 3600
        ),
        replicas=_replicas(config, body),
        max_slot_wal_keep_size=_max_slot_wal_keep_size(config, body),
    )


def _connection_limits(raw: Any) -> dict[str, int]:
    body: dict[str, Any] = _decode("connectionLimits", raw, dict)
    _check_keys("connectionLimits", body, tuple(BUILTIN_CONNECTION_LIMITS))
    return {
        name: _connection_limit(f"connectionLimits.{name}", body.get(name, default))
        for name, default in BUILTIN_CONNECTION_LIMITS.items()
    }


def parse_config(raw: Mapping[str, Any], origin: ConfigOrigin | None = None) -> StackConfig:
    """Validate raw config values (keys without the `engarde:` namespace) and apply defaults.

    `origin` (what the program or the stack file says beyond the values) enables the checks that need
    it: a namespace one edit away from `engarde`, an admin password given in clear text. Without it
    (config built in code) those two are not checked.
    """
    if origin is not None:
        _check_other_namespaces(origin.other_keys)
    for key in raw:
        if key not in KNOWN_KEYS:
            raise ConfigError(key, f"unknown key (allowed: {', '.join(sorted(KNOWN_KEYS))})")
    values = {**SCALAR_DEFAULTS, **{k: v for k, v in raw.items() if k in SCALAR_DEFAULTS}}
    allow_plaintext_secrets: bool = _decode("allowPlaintextSecrets", values["allowPlaintextSecrets"], bool)
    for key in ADMIN_PASSWORD_KEYS:
        if key in raw:
            _check_admin_password(key, raw[key])
            if origin is not None and key not in origin.secret_keys and not allow_plaintext_secrets:
                raise ConfigError(
                    key,
                    f"is in clear text in the stack's config: set it encrypted with pulumi config set --secret "
                    f"{NAMESPACE}:{key} <password> (or allow clear text with allowPlaintextSecrets: true)",
                )
    placement_value = _decode("langflowPlacement", values["langflowPlacement"], str)
    if placement_value not in (Placement.DEDICATED.value, Placement.SHARED.value):
        raise ConfigError("langflowPlacement", f"must be one of dedicated, shared (got {placement_value!r})")
    placement = Placement(placement_value)
    run_containers: bool = _decode("runContainers", values["runContainers"], bool)

    servers_raw: dict[str, Any] = _decode("servers", raw.get("servers", {}), dict)
    _check_keys("servers", servers_raw, tuple(SERVER_ENTRIES))
    wanted = [
        entry.name
        for entry in SERVER_ENTRIES.values()
        if not (entry.dedicated_to_langflow and placement is Placement.SHARED)
    ]
    servers = {name: _server(name, servers_raw.get(name, {})) for name in wanted}
    servers = {name: _with_connections(config, servers_raw.get(name, {})) for name, config in servers.items()}
    for name in sorted(set(servers_raw) - set(servers)):  # flowdb in shared placement: unused, still checked
        _check_unused_server(f"servers.{name}", servers_raw[name])
    _check_host_ports(servers, servers_raw)
    _check_endpoints(servers)

    admin_password_keys: dict[str, str] = {}
    for key, server in ADMIN_PASSWORD_KEYS.items():
        config = servers.get(server)
        if config is None or config.mode is Mode.CONTAINER:
            continue
        if key not in raw:
            raise ConfigError(
                key,
                f"is required because servers.{server}.mode is external: "
                f"pulumi config set --secret {NAMESPACE}:{key} <password>",
            )
        admin_password_keys[server] = key
    if not run_containers:
        for name, config in servers.items():
            if config.mode is Mode.CONTAINER:
                raise ConfigError(
                    f"servers.{name}.mode",
                    "must be external when runContainers is false (no container can run)",
                )

    images_raw: dict[str, Any] = _decode("images", raw.get("images", {}), dict)
    _check_keys("images", images_raw, tuple(DEFAULT_IMAGES))
    images = {
        name: check_image(f"images.{name}", images_raw.get(name, default)) for name, default in DEFAULT_IMAGES.items()
    }

    services_raw: dict[str, Any] = _decode("services", raw.get("services", {}), dict)
    extra = tuple(_extra_service(name, body) for name, body in services_raw.items())
    cross_database_reads = _cross_database_reads(values["crossDatabaseReads"], placement, servers)

    return StackConfig(
        placement=placement,
        run_containers=run_containers,
        protect=_decode("protect", values["protect"], bool),
        scheduler_base_url=_http_url("schedulerBaseUrl", values["schedulerBaseUrl"]),
        langflow_superuser=_env_text("langflowSuperuser", values["langflowSuperuser"]),
        servers=servers,
        images=images,
        extra_services=extra,
        admin_password_keys=admin_password_keys,
        connection_limits=_connection_limits(raw.get("connectionLimits", {})),
        service_hosts=_service_hosts(raw, run_containers),
        backups=_backups(raw.get("backups", {})),
        cross_database_reads=cross_database_reads,
    )


def _cross_database_reads(raw: Any, placement: Placement, servers: Mapping[str, ServerConfig]) -> bool:
    enabled: bool = _decode("crossDatabaseReads", raw, bool)
    if not enabled:
        return False
    if placement is Placement.SHARED:
        raise ConfigError(
            "crossDatabaseReads",
            "applies to langflowPlacement dedicated only (shared: Langflow's tables are on main already)",
        )
    if not servers["main"].superuser:
        # postgres_fdw is not a trusted extension, and CREATE SERVER needs USAGE on its wrapper.
        raise ConfigError(
            "crossDatabaseReads",
            "needs main's admin to be a superuser (servers.main.superuser is false): "
            "CREATE EXTENSION postgres_fdw is refused to any other role",
        )
    if servers["main"].mode is Mode.EXTERNAL and servers["flowdb"].mode is Mode.CONTAINER:
        raise ConfigError(
            "crossDatabaseReads",
            "an external main cannot reach flowdb's container (servers.flowdb.mode is container): "
            "make flowdb external too, or main a container",
        )
    return True


def _check_admin_password(key: str, value: Any) -> None:
    """An admin password is a non-empty string. The engine passes a list or an object given for it as its
    JSON text: one that reads as a JSON list or object is taken for one (no password looks like that)."""
    given = value
    if isinstance(value, str) and value[:1] in "[{":
        try:
            given = json.loads(value)
        except json.JSONDecodeError:
            given = value
    if not isinstance(given, str):
        raise ConfigError(key, f"must be a string (got {_type_name(given)})")
    if not given:
        raise ConfigError(key, "must not be empty")


def _type_name(value: Any) -> str:
    kinds = ((bool, "a boolean"), (int | float, "a number"), (list, "a list"), (dict, "an object"))
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def _one_edit_apart(first: str, second: str) -> bool:
    """Whether one insertion, deletion, substitution or swap of two adjacent characters turns one into the other."""
    if first == second or abs(len(first) - len(second)) > 1:
        return False
    if len(first) == len(second):
        differ = [i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b]
        return len(differ) == 1 or (
            len(differ) == 2
            and differ[1] == differ[0] + 1
            and first[differ[0]] == second[differ[1]]
            and first[differ[1]] == second[differ[0]]
        )
    shorter, longer = sorted((first, second), key=len)
    return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))


def _check_other_namespaces(keys: frozenset[str]) -> None:
    """A key whose namespace is one typo away from `engarde` would be silently ignored: refuse it."""
    for full_key in sorted(keys):
        namespace, _, name = full_key.partition(":")
        if _one_edit_apart(namespace, NAMESPACE):
            raise ConfigError(
                name,
                f"namespace {namespace!r} is not {NAMESPACE!r}, so the program would ignore this key: "
                f"did you mean {NAMESPACE}:{name}?",
                namespace=namespace,
            )


LOOPBACK = "127.0.0.1"


def _endpoint_host(host: str) -> str:
    return LOOPBACK if is_loopback(host) else host.lower()


def _check_endpoints(servers: Mapping[str, ServerConfig]) -> None:
    """Two servers (or replicas) at one host and port would be one server holding both layouts: its roles
    twice, `public` with two owners. A container is at 127.0.0.1:hostPort (its published port)."""
    endpoints: dict[tuple[str, int], str] = {}
    for name, server in servers.items():
        if server.mode is Mode.CONTAINER:
            continue  # containers: `_check_host_ports`; compared below with external servers
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
                raise ConfigError(
                    key,
                    f"{host}:{port} is also {other.removesuffix('.host')}'s host and port: each server needs its own",
                )
    for name, server in servers.items():
        published = [server.host_port, *(replica.host_port for replica in server.replicas)]
        for host_port in published:
            clash = endpoints.get((LOOPBACK, host_port)) if host_port is not None else None
            if clash is not None:
                raise ConfigError(
                    clash,
                    f"{LOOPBACK}:{host_port} is servers.{name}'s container (its hostPort): each server needs its own",
                )
