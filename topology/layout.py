"""EnGarde's layout (BRIEF §3 and §5) derived from validated stack config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from topology.capabilities import check_admin_grants
from topology.config import ServerConfig, StackConfig, parse_config
from topology.model import (
    Access,
    AccessGroup,
    DatabaseUser,
    EnvValue,
    GeneratedSecret,
    GeneratedSecretSpec,
    Healthcheck,
    Mode,
    Placement,
    PostgresUrl,
    Profile,
    Redis,
    RedisUrl,
    Role,
    RolePassword,
    Schema,
    Server,
    Service,
    Text,
    Topology,
)
from topology.names import ConfigError

MAIN, FLOWDB, SCHEDULER = "main", "flowdb", "scheduler"
AUDIT_SCHEMA = "audit"
AUDIT_OWNER = "audit_owner"
AUDIT_USER = "audit_user"
ANALYTICS = "analytics_readonly"
MONITOR = "engarde_monitor"
LANGFLOW_APP = "langflow_app"
LANGFLOW_READER = "langflow_reader"
FLOW_READER = "engarde_flow_reader"
SCHEDULER_USER = "scheduler_user"
LANGFLOW_SCHEMA = "langflow"

LANGFLOW_SECRET_KEY = "langflow-secret-key"
LANGFLOW_SUPERUSER_PASSWORD = "langflow-superuser-password"
REDIS_PASSWORD = "redis-password"

BACKEND_PORT = 8000
LANGFLOW_PORT = 7860


@dataclass(frozen=True)
class App:
    """An EnGarde service that owns a schema on main."""

    service: str
    schema: str
    role: str
    port: int = BACKEND_PORT
    reads: tuple[str, ...] = ()
    description: str = ""


ENGARDE_APPS = (
    App("backend", "public", "engarde_app", description='backend "Main" and "Main Copy"'),
    App("madan-sara", "madansara", "madansara_user", description="madan-sara"),
    App("sankore-paidads", "sankore", "sankore_user", description="sankore-paidads"),
    App("onside", "onside", "onside_user", description="onside"),
    App("capilytics-seo", "capilytics", "capilytics_user", description="capilytics-seo"),
)


def load_topology(raw: Mapping[str, Any], stack: str) -> Topology:
    """Stack config (keys without namespace) -> the validated topology."""
    return build_topology(parse_config(raw), stack)


def _server(config: ServerConfig) -> Server:
    adopt = config.mode is Mode.EXTERNAL and config.engine.value == "postgresql"
    if config.mode is Mode.CONTAINER:
        assert config.host_port is not None and config.image is not None
        internal = 5432 if config.engine.value == "postgresql" else 3306
        return Server(
            name=config.name,
            engine=config.engine,
            mode=config.mode,
            database=config.database,
            adopt_database=False,
            admin_user=config.admin_user,
            provider_host="127.0.0.1",
            provider_port=config.host_port,
            service_host=config.name,
            service_port=internal,
            image=config.image,
            database_owner=LANGFLOW_APP if config.name == FLOWDB else None,
        )
    assert config.host is not None and config.port is not None
    return Server(
        name=config.name,
        engine=config.engine,
        mode=config.mode,
        database=config.database,
        adopt_database=adopt,
        admin_user=config.admin_user,
        provider_host=config.host,
        provider_port=config.port,
        service_host=config.host,
        service_port=config.port,
        sslmode=config.sslmode,
        superuser=config.superuser,
    )


def build_topology(config: StackConfig, stack: str) -> Topology:
    """The whole layout: roles, schemas, the access matrix, groups and service wiring."""
    servers = {name: _server(server) for name, server in config.servers.items()}
    shared = config.placement is Placement.SHARED
    main_db = servers[MAIN].database

    apps = list(ENGARDE_APPS)
    taken_services = {a.service for a in apps} | {
        "backend-copy",
        "langflow-server",
        "egm-scheduler",
        "redis",
        "postgres-exporter",
        "postgres-exporter-flowdb",
        "reporting",
        "compliance",
    }
    taken_schemas = {a.schema for a in apps} | {"public", AUDIT_SCHEMA, LANGFLOW_SCHEMA}
    for extra in config.extra_services:
        if extra.name in taken_services:
            raise ConfigError(f"services.{extra.name}", "is already a service of the layout")
        if extra.schema in taken_schemas:
            raise ConfigError(f"services.{extra.name}.schema", f"schema {extra.schema!r} is already used")
        taken_services.add(extra.name)
        taken_schemas.add(extra.schema)
        apps.append(App(extra.name, extra.schema, f"{extra.schema}_user", extra.port, extra.reads, extra.name))
    main_schemas = {a.schema for a in apps} | ({LANGFLOW_SCHEMA} if shared else set())
    for extra in config.extra_services:
        for i, schema in enumerate(extra.reads):
            if schema not in main_schemas or schema == extra.schema:
                allowed = ", ".join(sorted(main_schemas - {extra.schema}))
                raise ConfigError(
                    f"services.{extra.name}.reads[{i}]",
                    f"schema {schema!r} is not another service's schema on main (allowed: {allowed})",
                )

    roles: list[Role] = []
    schemas: list[Schema] = []
    access: list[Access] = []

    def grant(server: str, schema: str, role: str, profile: Profile) -> None:
        database = servers[server].database
        access.append(Access(server, database, schema, role, profile))

    # main: one schema per service, the audit schema, and the roles of BRIEF §3.
    for app in apps:
        path = ("public",) if app.schema == "public" else (app.schema, "public")
        roles.append(Role(MAIN, app.role, login=True, search_path=path, owns_data=True, description=app.description))
        schemas.append(Schema(MAIN, main_db, app.schema, app.role, created=app.schema != "public"))
        grant(MAIN, app.schema, app.role, Profile.OWNER)
        grant(MAIN, AUDIT_SCHEMA, app.role, Profile.APPEND)
    roles.append(Role(MAIN, AUDIT_OWNER, login=False, owns_data=True, description="owns the audit schema"))
    schemas.append(Schema(MAIN, main_db, AUDIT_SCHEMA, AUDIT_OWNER, created=True))
    if shared:
        roles.append(
            Role(
                MAIN,
                LANGFLOW_APP,
                login=True,
                search_path=(LANGFLOW_SCHEMA,),
                owns_data=True,
                description="langflow-server (shared placement)",
            )
        )
        schemas.append(Schema(MAIN, main_db, LANGFLOW_SCHEMA, LANGFLOW_APP, created=True))
        grant(MAIN, LANGFLOW_SCHEMA, LANGFLOW_APP, Profile.OWNER)
        grant(MAIN, "public", LANGFLOW_APP, Profile.READ)
        grant(MAIN, AUDIT_SCHEMA, LANGFLOW_APP, Profile.APPEND)
        grant(MAIN, LANGFLOW_SCHEMA, "engarde_app", Profile.READ)
    for app in apps:
        for schema in app.reads:
            grant(MAIN, schema, app.role, Profile.READ)

    service_schemas = [a.schema for a in apps if a.schema != "public"]
    roles.append(Role(MAIN, ANALYTICS, login=True, description="reporting"))
    for schema in service_schemas:
        grant(MAIN, schema, ANALYTICS, Profile.READ)
    roles.append(Role(MAIN, AUDIT_USER, login=True, description="monitoring / compliance"))
    for schema in ["public", *service_schemas, *([LANGFLOW_SCHEMA] if shared else []), AUDIT_SCHEMA]:
        grant(MAIN, schema, AUDIT_USER, Profile.READ)
    if not shared:
        roles.append(
            Role(
                MAIN,
                LANGFLOW_READER,
                login=True,
                search_path=("public",),
                description="Langflow flows that read EnGarde data",
            )
        )
        grant(MAIN, "public", LANGFLOW_READER, Profile.READ)
        grant(MAIN, AUDIT_SCHEMA, LANGFLOW_READER, Profile.APPEND)
    roles.append(Role(MAIN, MONITOR, login=True, member_of=("pg_monitor",), description="postgres_exporter"))

    # flowdb: Langflow's dedicated server.
    if not shared:
        flow_db = servers[FLOWDB].database
        roles.append(
            Role(
                FLOWDB, LANGFLOW_APP, login=True, search_path=("public",), owns_data=True, description="langflow-server"
            )
        )
        schemas.append(Schema(FLOWDB, flow_db, "public", LANGFLOW_APP, created=False))
        grant(FLOWDB, "public", LANGFLOW_APP, Profile.OWNER)
        roles.append(
            Role(FLOWDB, FLOW_READER, login=True, search_path=("public",), description='backend "monitor workflows"')
        )
        grant(FLOWDB, "public", FLOW_READER, Profile.READ)
        roles.append(Role(FLOWDB, AUDIT_USER, login=True, description="monitoring / compliance"))
        grant(FLOWDB, "public", AUDIT_USER, Profile.READ)
        roles.append(Role(FLOWDB, MONITOR, login=True, member_of=("pg_monitor",), description="postgres_exporter"))

    groups = _groups(access, schemas)
    roles.extend(Role(g.server, g.name, login=False, description=f"{g.profile} on {g.schema}") for g in groups)
    _check_unique_roles(roles)
    check_admin_grants(config.servers, roles)

    scheduler = servers[SCHEDULER]
    database_users = (DatabaseUser(SCHEDULER, SCHEDULER_USER, scheduler.database),)

    services = _services(config, servers, apps, shared)
    return Topology(
        stack=stack,
        placement=config.placement,
        run_containers=config.run_containers,
        protect=config.protect,
        servers=servers,
        roles=tuple(roles),
        schemas=tuple(schemas),
        access=tuple(access),
        groups=groups,
        database_users=database_users,
        services=services,
        secrets=(
            GeneratedSecretSpec(LANGFLOW_SECRET_KEY, length=64, special=False),
            GeneratedSecretSpec(LANGFLOW_SUPERUSER_PASSWORD, length=24, special=True),
            GeneratedSecretSpec(REDIS_PASSWORD, length=32, special=True),
        ),
        redis=Redis(image=config.images["redis"]),
        network=f"engarde-{stack}",
        admin_password_keys=dict(config.admin_password_keys),
    )


def _groups(access: list[Access], schemas: list[Schema]) -> tuple[AccessGroup, ...]:
    owners = {(s.server, s.name): s.owner for s in schemas}
    members: dict[tuple[str, str, str, Profile], list[str]] = {}
    for cell in access:
        if cell.profile is not Profile.OWNER:
            members.setdefault((cell.server, cell.database, cell.schema, cell.profile), []).append(cell.role)
    return tuple(
        AccessGroup(
            server=server,
            database=database,
            schema=schema,
            profile=profile,
            name=f"{schema}_{profile.value}",
            creator=owners[(server, schema)],
            members=tuple(names),
        )
        for (server, database, schema, profile), names in members.items()
    )


def _check_unique_roles(roles: list[Role]) -> None:
    seen: set[tuple[str, str]] = set()
    for role in roles:
        key = (role.server, role.name)
        if key in seen:
            raise ConfigError("services", f"role {role.name!r} on server {role.server!r} would be created twice")
        seen.add(key)


def _services(config: StackConfig, servers: dict[str, Server], apps: list[App], shared: bool) -> tuple[Service, ...]:
    images = config.images
    backend_env: dict[str, EnvValue] = {
        "DATABASE_URL": PostgresUrl(MAIN, "engarde_app", ("public",)),
        "LANGFLOW_DATABASE_URL": (
            PostgresUrl(MAIN, "engarde_app", (LANGFLOW_SCHEMA,)) if shared else PostgresUrl(FLOWDB, FLOW_READER)
        ),
        "LANGFLOW_API_URL": Text(f"http://langflow-server:{LANGFLOW_PORT}"),
        "REDIS_URL": RedisUrl(),
    }
    services = [
        Service("backend", images["backend"], BACKEND_PORT, dict(backend_env)),
        Service("backend-copy", images["backend"], BACKEND_PORT, dict(backend_env)),
    ]
    for app in apps[1:]:
        services.append(
            Service(
                app.service,
                images.get(app.service) or next(e.image for e in config.extra_services if e.name == app.service),
                app.port,
                {
                    "DATABASE_URL": PostgresUrl(MAIN, app.role, (app.schema, "public")),
                    "PRODUCTION_BACKEND_URL": Text(f"http://backend:{BACKEND_PORT}"),
                },
            )
        )
    langflow_db = PostgresUrl(MAIN, LANGFLOW_APP, (LANGFLOW_SCHEMA,)) if shared else PostgresUrl(FLOWDB, LANGFLOW_APP)
    engarde_db = PostgresUrl(MAIN, LANGFLOW_APP if shared else LANGFLOW_READER, ("public",))
    services.append(
        Service(
            "langflow-server",
            images["langflow-server"],
            LANGFLOW_PORT,
            {
                "LANGFLOW_DATABASE_URL": langflow_db,
                "ENGARDE_DATABASE_URL": engarde_db,
                "LANGFLOW_DATABASE_CONNECTION_RETRY": Text("true"),
                "LANGFLOW_CACHE_TYPE": Text("redis"),
                "LANGFLOW_REDIS_URL": RedisUrl(),
                "LANGFLOW_SUPERUSER": Text(config.langflow_superuser),
                "LANGFLOW_SUPERUSER_PASSWORD": GeneratedSecret(LANGFLOW_SUPERUSER_PASSWORD),
                "LANGFLOW_AUTO_LOGIN": Text("False"),
                "LANGFLOW_SECRET_KEY": GeneratedSecret(LANGFLOW_SECRET_KEY),
                "LANGFLOW_CONFIG_DIR": Text("/app/langflow"),
                "LANGFLOW_HOST": Text("0.0.0.0"),
                "LANGFLOW_PORT": Text(str(LANGFLOW_PORT)),
            },
            Healthcheck(
                'python -c "import urllib.request; '
                f"urllib.request.urlopen('http://127.0.0.1:{LANGFLOW_PORT}/health_check', timeout=4)\"",
                start_period="180s",
            ),
        )
    )
    scheduler = servers[SCHEDULER]
    services.append(
        Service(
            "egm-scheduler",
            images["egm-scheduler"],
            80,
            {
                "DB_HOST": Text(scheduler.service_host),
                "DB_NAME": Text(scheduler.database),
                "DB_USERNAME": Text(SCHEDULER_USER),
                "DB_PASSWORD": RolePassword(SCHEDULER, SCHEDULER_USER),
                "BASE_URL": Text(config.scheduler_base_url),
                "DEBUG_MODE": Text("FALSE"),
            },
        )
    )
    # Consumers with no container here: their credentials reach them through the `services` output.
    services.append(Service("reporting", None, None, {"DATABASE_URL": PostgresUrl(MAIN, ANALYTICS)}))
    compliance: dict[str, EnvValue] = {"DATABASE_URL": PostgresUrl(MAIN, AUDIT_USER)}
    if not shared:
        compliance["LANGFLOW_DATABASE_URL"] = PostgresUrl(FLOWDB, AUDIT_USER)
    services.append(Service("compliance", None, None, compliance))
    services.append(
        Service(
            "postgres-exporter", images["postgres-exporter"], 9187, {"DATA_SOURCE_NAME": PostgresUrl(MAIN, MONITOR)}
        )
    )
    if not shared:
        services.append(
            Service(
                "postgres-exporter-flowdb",
                images["postgres-exporter"],
                9187,
                {"DATA_SOURCE_NAME": PostgresUrl(FLOWDB, MONITOR)},
            )
        )
    return tuple(services)
