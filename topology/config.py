"""Stack config (namespace `engarde:`): parsing and validation, with the EnGarde defaults.

Values arrive as Pulumi passes them to a program (strings; objects and booleans JSON-encoded)
or already parsed (the offline renderer reads YAML). Every error is a `ConfigError` naming the key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from topology.capabilities import check_postgres_version
from topology.model import Engine, Mode, Placement
from topology.names import (
    ConfigError,
    check_identifier,
    check_image,
    check_schema_name,
    check_service_name,
)

NAMESPACE = "engarde"

SERVER_ENGINES: dict[str, Engine] = {
    "main": Engine.POSTGRESQL,
    "flowdb": Engine.POSTGRESQL,
    "scheduler": Engine.MYSQL,
}

DEFAULT_SERVER_IMAGES = {Engine.POSTGRESQL: "postgres:15.8", Engine.MYSQL: "mysql:8.0.39"}
DEFAULT_HOST_PORTS = {"main": 5432, "flowdb": 5433, "scheduler": 3306}
DEFAULT_CONTAINER_DATABASES = {"main": "engarde", "flowdb": "langflow", "scheduler": "easyappointments"}
DEFAULT_EXTERNAL_DATABASES = {"main": "railway", "flowdb": "railway", "scheduler": "easyappointments"}
DEFAULT_ADMIN_USERS = {Engine.POSTGRESQL: "postgres", Engine.MYSQL: "root"}
DEFAULT_PORTS = {Engine.POSTGRESQL: 5432, Engine.MYSQL: 3306}
CONTAINER_KEYS = ("mode", "image", "hostPort", "database")
EXTERNAL_KEYS = ("host", "port", "adminUser", "sslmode", "superuser", "version", "adminGrantsPgMonitor")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

DEFAULT_IMAGES: dict[str, str] = {
    "backend": "ghcr.io/engardehq/production-backend:stable",
    "madan-sara": "ghcr.io/engardehq/madan-sara:stable",
    "sankore-paidads": "ghcr.io/engardehq/sankore-paidads:stable",
    "onside": "ghcr.io/engardehq/onside:stable",
    "capilytics-seo": "ghcr.io/engardehq/capilytics-seo:stable",
    "langflow-server": "langflowai/langflow:1.1.1",
    "egm-scheduler": "alextselegidis/easyappointments:1.5.0",
    "redis": "redis:7.2.5-alpine",
    "postgres-exporter": "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
}

SCALAR_DEFAULTS: dict[str, Any] = {
    "langflowPlacement": Placement.DEDICATED.value,
    "runContainers": True,
    "protect": False,
    "schedulerBaseUrl": "http://localhost:8080",
    "langflowSuperuser": "admin",
}
"""Declared in Pulumi.yaml with the same defaults (a test keeps the two equal)."""

OBJECT_KEYS = ("servers", "images", "services")
ADMIN_PASSWORD_KEYS = {f"{server}AdminPassword": server for server in SERVER_ENGINES}
KNOWN_KEYS = frozenset(SCALAR_DEFAULTS) | frozenset(OBJECT_KEYS) | frozenset(ADMIN_PASSWORD_KEYS)


@dataclass(frozen=True)
class ServerConfig:
    """One server's settings after defaults and validation."""

    name: str
    engine: Engine
    mode: Mode
    database: str
    image: str | None = None
    host_port: int | None = None
    host: str | None = None
    port: int | None = None
    admin_user: str = "postgres"
    sslmode: str | None = None
    superuser: bool = True
    version: int | None = None
    admin_grants_pg_monitor: bool = False


@dataclass(frozen=True)
class ExtraServiceConfig:
    """A service a stack adds through `engarde:services`."""

    name: str
    image: str
    schema: str
    port: int
    reads: tuple[str, ...] = ()


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
    if any(c.isspace() or c in "/@?#" for c in host):
        raise ConfigError(key, "must be a host name or IP address")
    return host


def _server(name: str, raw: Any) -> ServerConfig:
    key = f"servers.{name}"
    body: dict[str, Any] = _decode(key, raw, dict)
    engine = SERVER_ENGINES[name]
    mode_value = body.get("mode", Mode.CONTAINER.value)
    if mode_value not in (Mode.CONTAINER.value, Mode.EXTERNAL.value):
        raise ConfigError(f"{key}.mode", f"must be one of container, external (got {mode_value!r})")
    mode = Mode(mode_value)
    if mode is Mode.CONTAINER:
        # The other mode's settings are ignored, so one `mode` change switches a server.
        _check_keys(key, body, CONTAINER_KEYS + EXTERNAL_KEYS)
        return ServerConfig(
            name=name,
            engine=engine,
            mode=mode,
            database=check_identifier(f"{key}.database", body.get("database", DEFAULT_CONTAINER_DATABASES[name])),
            image=check_image(f"{key}.image", body.get("image", DEFAULT_SERVER_IMAGES[engine])),
            host_port=_port(f"{key}.hostPort", body.get("hostPort", DEFAULT_HOST_PORTS[name])),
            admin_user=DEFAULT_ADMIN_USERS[engine],
        )
    _check_keys(key, body, CONTAINER_KEYS + EXTERNAL_KEYS)
    if "host" not in body:
        raise ConfigError(f"{key}.host", "is required when mode is external")
    sslmode = _decode(f"{key}.sslmode", body.get("sslmode", "require"), str)
    if sslmode not in SSLMODES:
        raise ConfigError(f"{key}.sslmode", f"must be one of {', '.join(SSLMODES)} (got {sslmode!r})")
    superuser: bool = _decode(f"{key}.superuser", body.get("superuser", False), bool)
    version, admin_grants_pg_monitor = _postgres_admin(key, body, engine)
    return ServerConfig(
        name=name,
        engine=engine,
        mode=mode,
        database=check_identifier(f"{key}.database", body.get("database", DEFAULT_EXTERNAL_DATABASES[name])),
        host=_hostname(f"{key}.host", body["host"]),
        port=_port(f"{key}.port", body.get("port", DEFAULT_PORTS[engine])),
        admin_user=_text(f"{key}.adminUser", body.get("adminUser", DEFAULT_ADMIN_USERS[engine])),
        sslmode=sslmode,
        superuser=superuser,
        version=version,
        admin_grants_pg_monitor=admin_grants_pg_monitor,
    )


def _postgres_admin(key: str, body: Mapping[str, Any], engine: Engine) -> tuple[int | None, bool]:
    """An external PostgreSQL server's `version` and `adminGrantsPgMonitor` (MySQL servers have neither)."""
    if engine is not Engine.POSTGRESQL:
        for name in ("version", "adminGrantsPgMonitor"):
            if name in body:
                raise ConfigError(f"{key}.{name}", "applies to PostgreSQL servers only")
        return None, False
    version: int | None = None
    if "version" in body:
        version = _decode(f"{key}.version", body["version"], int)
        check_postgres_version(f"{key}.version", version)
    return version, _decode(f"{key}.adminGrantsPgMonitor", body.get("adminGrantsPgMonitor", False), bool)


def _extra_service(name: str, raw: Any) -> ExtraServiceConfig:
    key = f"services.{name}"
    check_service_name(key, name)
    body: dict[str, Any] = _decode(key, raw, dict)
    _check_keys(key, body, ("image", "schema", "port", "reads"))
    if "image" not in body:
        raise ConfigError(f"{key}.image", "is required")
    reads_raw: list[Any] = _decode(f"{key}.reads", body.get("reads", []), list)
    reads = tuple(check_identifier(f"{key}.reads[{i}]", schema) for i, schema in enumerate(reads_raw))
    if len(set(reads)) != len(reads):
        raise ConfigError(f"{key}.reads", "lists a schema twice")
    return ExtraServiceConfig(
        name=name,
        image=check_image(f"{key}.image", body["image"]),
        # Without an explicit schema the name itself is at fault: name that key.
        schema=check_schema_name(
            f"{key}.schema" if "schema" in body else key, body.get("schema", name.replace("-", "_"))
        ),
        port=_port(f"{key}.port", body.get("port", 8000)),
        reads=reads,
    )


def parse_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate raw config values (keys without the `engarde:` namespace) and apply defaults."""
    for key in raw:
        if key not in KNOWN_KEYS:
            raise ConfigError(key, f"unknown key (allowed: {', '.join(sorted(KNOWN_KEYS))})")
    values = {**SCALAR_DEFAULTS, **{k: v for k, v in raw.items() if k in SCALAR_DEFAULTS}}
    placement_value = _decode("langflowPlacement", values["langflowPlacement"], str)
    if placement_value not in (Placement.DEDICATED.value, Placement.SHARED.value):
        raise ConfigError("langflowPlacement", f"must be one of dedicated, shared (got {placement_value!r})")
    placement = Placement(placement_value)
    run_containers: bool = _decode("runContainers", values["runContainers"], bool)

    servers_raw: dict[str, Any] = _decode("servers", raw.get("servers", {}), dict)
    _check_keys("servers", servers_raw, tuple(SERVER_ENGINES))
    wanted = [name for name in SERVER_ENGINES if not (name == "flowdb" and placement is Placement.SHARED)]
    servers = {name: _server(name, servers_raw.get(name, {})) for name in wanted}

    admin_password_keys: dict[str, str] = {}
    for key, server in ADMIN_PASSWORD_KEYS.items():
        config = servers.get(server)
        if config is None or config.mode is Mode.CONTAINER:
            continue
        if key not in raw or not isinstance(raw[key], str) or not raw[key]:
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

    return StackConfig(
        placement=placement,
        run_containers=run_containers,
        protect=_decode("protect", values["protect"], bool),
        scheduler_base_url=_text("schedulerBaseUrl", values["schedulerBaseUrl"]),
        langflow_superuser=_text("langflowSuperuser", values["langflowSuperuser"]),
        servers=servers,
        images=images,
        extra_services=extra,
        admin_password_keys=admin_password_keys,
    )
