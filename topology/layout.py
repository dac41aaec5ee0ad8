"""EnGarde's layout (access matrix and service wiring: docs/access-model.md) from validated stack config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from topology.backups import backup_jobs, backup_role, backup_service, backup_service_name
from topology.budget import check_connection_budgets
from topology.capabilities import check_admin_grants
from topology.catalog import (
    ANALYTICS,
    AUDIT_OWNER,
    AUDIT_SCHEMA,
    AUDIT_USER,
    BACKEND_PORT,
    BACKUP_ROLE,
    ENGARDE_APPS,
    ENGINES,
    FLOW_READER,
    FLOWDB,
    FOREIGN_SERVER,
    LANGFLOW_APP,
    LANGFLOW_PORT,
    LANGFLOW_READER,
    LANGFLOW_SCHEMA,
    LIMIT_KEYS,
    MAIN,
    MONITOR,
    REMOTE_OWNER,
    REMOTE_SCHEMA,
    REPLICATOR,
    SCHEDULER,
    SCHEDULER_USER,
    SERVER_ENTRIES,
    App,
    AppKind,
)
from topology.config import ConfigOrigin, ServerConfig, StackConfig, parse_config
from topology.model import (
    Access,
    AccessGroup,
    CrossDatabaseReads,
    DatabaseUser,
    Engine,
    EnvValue,
    GeneratedSecret,
    GeneratedSecretSpec,
    Healthcheck,
    Mode,
    Placement,
    Pooler,
    PoolUser,
    PostgresUrl,
    Profile,
    Redis,
    RedisUrl,
    Role,
    RolePassword,
    Schema,
    SecretKind,
    Server,
    Service,
    Text,
    Topology,
)
from topology.monitoring import with_exporter_queries
from topology.names import ConfigError
from topology.pgbouncer import pooler_service_name
from topology.replication import replicas_of, replicator_connection_limit
from topology.upgrades import deployed_data, with_data_volumes

LANGFLOW_SECRET_KEY = "langflow-secret-key"
LANGFLOW_SUPERUSER_PASSWORD = "langflow-superuser-password"
REDIS_PASSWORD = "redis-password"
REDIS_SERVICE = "redis"


def load_topology(
    raw: Mapping[str, Any],
    stack: str,
    origin: ConfigOrigin | None = None,
    deployed_outputs: Mapping[str, Any] | None = None,
) -> Topology:
    """Stack config (keys without namespace) -> the validated topology (`origin`: see `parse_config`;
    `deployed_outputs`: the stack's outputs as its last update left them, none before the first)."""
    return build_topology(parse_config(raw, origin), stack, deployed_outputs or {})


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
            image_version=config.image_version,
            database_owner=SERVER_ENTRIES[config.name].database_owner,
            max_connections=config.max_connections,
            reserved_connections=config.reserved_connections,
            replicas=replicas_of(config.name, config.mode, [(None, None, r.host_port) for r in config.replicas]),
            max_slot_wal_keep_size=config.max_slot_wal_keep_size if config.replicas else None,
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
        max_connections=config.max_connections,
        max_connections_assumed=config.max_connections_assumed,
        reserved_connections=config.reserved_connections,
        sslrootcert=config.sslrootcert,
        import_database=config.adopt_database,
        character_set=config.character_set,
        collation=config.collation,
        adopt_roles=config.adopt_roles,
        replicas=replicas_of(config.name, config.mode, [(r.host, r.port, None) for r in config.replicas]),
    )


def _server_and_pooler_hosts(config: StackConfig, servers: Mapping[str, Server]) -> dict[str, str]:
    """Each server's and enabled pooler's container name (`<network>-<name>`) and network alias ->
    what it names; refuses a pooler alias that is a server container's (its DSNs would reach the
    server). External servers and poolers are reached by host and port: only their names count."""
    hosts: dict[str, str] = {}
    for name, server in servers.items():
        hosts[name] = f"server {name}"
        if server.mode is Mode.CONTAINER:
            hosts[server.service_host] = f"server {name}"
    for name, server_config in config.servers.items():
        if server_config.pooler == "none" or server_config.pooler_host is None:
            continue
        hosts[pooler_service_name(name)] = f"the pooler of server {name}"
        if not config.run_containers:
            continue
        host = server_config.pooler_host
        if host in hosts:
            raise ConfigError(
                f"servers.{name}.poolerHost",
                f"{host!r} is the container name or network alias of {hosts[host]}: choose another",
            )
        hosts[host] = f"the pooler of server {name}"
    return hosts


def _check_pooler_aliases(config: StackConfig, containers: set[str]) -> None:
    """A pooler's network alias may not be another container's name on the network (a service, Redis, a
    replica): two containers answering to one alias, the DSNs would reach either."""
    if not config.run_containers:
        return
    for name, server_config in config.servers.items():
        host = server_config.pooler_host
        if server_config.pooler != "none" and host in containers - {pooler_service_name(name)}:
            raise ConfigError(
                f"servers.{name}.poolerHost",
                f"{host!r} is the network alias of the {host} container: choose another",
            )


def build_topology(config: StackConfig, stack: str, deployed_outputs: Mapping[str, Any] | None = None) -> Topology:
    """The whole layout: roles, schemas, the access matrix, groups and service wiring."""
    network = f"engarde-{stack}"
    servers, notices = with_data_volumes(
        {name: _server(server) for name, server in config.servers.items()},
        deployed_data(deployed_outputs or {}, network),
        frozenset(name for name, server in config.servers.items() if server.allow_major_upgrade),
    )
    shared = config.placement is Placement.SHARED
    main_db = servers[MAIN].database

    apps = list(ENGARDE_APPS)
    # Names a configured service may not take: every service and schema the layout has without it,
    # and the container names and network aliases of its servers and poolers (`<network>-<name>`).
    hosts = _server_and_pooler_hosts(config, servers)
    taken_services = {
        *(service.name for service in _services(config, servers, apps, shared)),
        *(pooler_service_name(name) for name in servers),
        *(backup_service_name(name) for name in servers),
        REDIS_SERVICE,
        *(replica.name for server in servers.values() for replica in server.replicas),
    }
    taken_schemas = {a.schema for a in apps} | {"public", AUDIT_SCHEMA, LANGFLOW_SCHEMA, REMOTE_SCHEMA}
    for extra in config.extra_services:
        if extra.name in hosts:
            raise ConfigError(
                f"services.{extra.name}",
                f"is the container name or network alias of {hosts[extra.name]}: choose another",
            )
        if extra.name in taken_services:
            raise ConfigError(f"services.{extra.name}", "is already a service of the layout")
        if extra.schema in taken_schemas:
            raise ConfigError(f"services.{extra.name}.schema", f"schema {extra.schema!r} is already used")
        taken_services.add(extra.name)
        taken_schemas.add(extra.schema)
        apps.append(
            App(
                extra.name,
                extra.schema,
                extra.role,
                extra.image,
                extra.port,
                extra.reads,
                extra.name,
                extra.connection_limit,
            )
        )
    _check_pooler_aliases(config, taken_services | {config.service_hosts[REDIS_SERVICE]})
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

    # main: one schema per service, the audit schema, and the roles of the access matrix.
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
    reads = _cross_database_reads(servers) if config.cross_database_reads else None
    if reads is not None:
        roles.append(
            Role(reads.server, reads.owner, login=False, owns_data=True, description="owns Langflow's foreign tables")
        )
        schemas.append(Schema(reads.server, reads.database, reads.schema, reads.owner, created=True))
        for reader in reads.readers:
            grant(reads.server, reads.schema, reader, Profile.READ)

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

    for server in servers.values():
        if server.engine is Engine.POSTGRESQL:
            roles.append(backup_role(server.name))
            for declared in schemas:
                if declared.server == server.name:
                    grant(server.name, declared.name, BACKUP_ROLE, Profile.BACKUP)

    for server in servers.values():
        if server.streams_to_containers:
            roles.append(
                Role(
                    server.name,
                    REPLICATOR,
                    login=True,
                    description="streaming replication (the replicas)",
                    replication=True,
                    connection_limit=replicator_connection_limit(server),
                    limit_key=f"servers.{server.name}.replicas",
                )
            )

    roles = _with_connection_limits(roles, config)
    # Only roles that predate the group design can exist already: the group roles are the stack's own.
    _check_adopted_roles(servers, roles)
    groups = _groups(access, schemas)
    roles.extend(Role(g.server, g.name, login=False, description=f"{g.profile} on {g.schema}") for g in groups)
    _check_unique_roles(roles)
    check_admin_grants(config.servers, roles)

    scheduler = servers[SCHEDULER]
    database_users = (DatabaseUser(SCHEDULER, SCHEDULER_USER, scheduler.database),)

    backups = backup_jobs(servers, config.backups)
    services, poolers = _pooled(config, _services(config, servers, apps, shared), roles)
    # Backup jobs connect directly: a dump needs no pool, and the pooler's pools are the services'.
    services = (*services, *(backup_service(job, servers[job.server]) for job in backups))
    topology = Topology(
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
            # Langflow encrypts stored credentials with Fernet(SECRET_KEY): 32 bytes, url-safe base64.
            GeneratedSecretSpec(LANGFLOW_SECRET_KEY, length=32, special=False, kind=SecretKind.FERNET_KEY),
            GeneratedSecretSpec(LANGFLOW_SUPERUSER_PASSWORD, length=24, special=True),
            GeneratedSecretSpec(REDIS_PASSWORD, length=32, special=True),
        ),
        redis=Redis(image=config.images["redis"], alias=config.service_hosts["redis"]),
        network=network,
        admin_password_keys=dict(config.admin_password_keys),
        poolers=poolers,
        backups=backups,
        cross_database_reads=reads,
        notices=tuple(notices),
    )
    check_connection_budgets(topology)
    return with_exporter_queries(topology)


def _cross_database_reads(servers: Mapping[str, Server]) -> CrossDatabaseReads:
    flowdb = servers[FLOWDB]
    return CrossDatabaseReads(
        server=MAIN,
        database=servers[MAIN].database,
        schema=REMOTE_SCHEMA,
        owner=REMOTE_OWNER,
        readers=(ANALYTICS,),
        foreign_server=FOREIGN_SERVER,
        remote_server=FLOWDB,
        # What main's server process connects to: on the stack's network for containers.
        remote_host=flowdb.service_host,
        remote_port=flowdb.service_port,
        remote_database=flowdb.database,
        remote_role=FLOW_READER,
        remote_sslmode=flowdb.sslmode,
    )


def _with_connection_limits(roles: list[Role], config: StackConfig) -> list[Role]:
    extra = {e.role: e for e in config.extra_services}
    limited: list[Role] = []
    for role in roles:
        if not role.login or role.limit_key:
            limited.append(role)
        elif role.name in extra:
            service = extra[role.name]
            key = f"services.{service.name}.connectionLimit"
            limited.append(replace(role, connection_limit=service.connection_limit, limit_key=key))
        else:
            # Every login role counts in the budget: a new built-in one needs its key here.
            name = LIMIT_KEYS.get(role.name)
            if name is None:
                raise KeyError(f"login role {role.name!r} has no connectionLimits key (topology/catalog.py)")
            limit = config.connection_limits[name]
            limited.append(replace(role, connection_limit=limit, limit_key=f"connectionLimits.{name}"))
    return limited


def _pooled(
    config: StackConfig, services: tuple[Service, ...], roles: list[Role]
) -> tuple[tuple[Service, ...], dict[str, Pooler]]:
    """Services' DSNs through their server's pooler, where one is configured.

    A DSN stays direct when the pooler cannot honour it: the exporter's (it watches the server
    itself) and one whose search_path differs from its role's (PgBouncer drops `options`, so only
    the role-level search_path applies through it), and a reader's on a server with replicas (the
    pooler pools the primary; the reader's DSN lists the replicas).
    """
    pooled_servers = {name for name, server in config.servers.items() if server.pooler == "pgbouncer"}
    if not pooled_servers:
        return services, {}
    by_key = {(role.server, role.name): role for role in roles}
    pooled_roles: dict[str, list[str]] = {name: [] for name in pooled_servers}
    rewritten: list[Service] = []
    for service in services:
        env = dict(service.env)
        for key, value in service.env.items():
            if not isinstance(value, PostgresUrl) or value.server not in pooled_servers or value.role == MONITOR:
                continue
            if value.read_only and config.servers[value.server].replicas:
                continue  # the pooler pools the primary: a reader goes to the replicas
            role = by_key[(value.server, value.role)]
            if value.search_path and value.search_path != role.search_path:
                continue
            env[key] = replace(value, pooled=True)
            if value.role not in pooled_roles[value.server]:
                pooled_roles[value.server].append(value.role)
        rewritten.append(replace(service, env=env))
    pool_modes = {e.role: e.pool_mode for e in config.extra_services}
    poolers: dict[str, Pooler] = {}
    for name in sorted(pooled_servers):
        server = config.servers[name]
        assert server.pooler_host is not None
        users = tuple(
            PoolUser(role, by_key[(name, role)].connection_limit, pool_modes.get(role, "session"))
            for role in pooled_roles[name]
        )
        poolers[name] = Pooler(
            server=name,
            image=config.images["pgbouncer"],
            host=server.pooler_host,
            port=server.pooler_port,
            query_wait_timeout=server.pooler_query_wait_timeout,
            users=users,
        )
    return tuple(rewritten), poolers


def _groups(access: list[Access], schemas: list[Schema]) -> tuple[AccessGroup, ...]:
    owners = {(s.server, s.name): s.owner for s in schemas}
    members: dict[tuple[str, str, str, Profile], list[str]] = {}
    for cell in access:
        if cell.profile not in (Profile.OWNER, Profile.BACKUP):
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


def _check_adopted_roles(servers: dict[str, Server], roles: list[Role]) -> None:
    for server in servers.values():
        names = {role.name for role in roles if role.server == server.name}
        for i, adopted in enumerate(server.adopt_roles):
            if adopted not in names:
                raise ConfigError(
                    f"servers.{server.name}.adoptRoles[{i}]",
                    f"{adopted!r} is not a role of the layout on {server.name} (allowed: {', '.join(sorted(names))})",
                )


def _check_unique_roles(roles: list[Role]) -> None:
    seen: set[tuple[str, str]] = set()
    for role in roles:
        key = (role.server, role.name)
        if key in seen:
            raise ConfigError("services", f"role {role.name!r} on server {role.server!r} would be created twice")
        seen.add(key)


def _http_healthcheck(port: int, path: str, start_period: str = "30s") -> Healthcheck:
    """A GET of `path` on the service's own port, with the Python its image runs (EnGarde's services and
    Langflow are Python images; EnGarde's serve `/health`)."""
    return Healthcheck(
        f"python -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=4)\"",
        start_period=start_period,
    )


def _services(config: StackConfig, servers: dict[str, Server], apps: list[App], shared: bool) -> tuple[Service, ...]:
    images = config.images
    backend_env: dict[str, EnvValue] = {
        "DATABASE_URL": PostgresUrl(MAIN, "engarde_app", ("public",)),
        "LANGFLOW_DATABASE_URL": (
            PostgresUrl(MAIN, "engarde_app", (LANGFLOW_SCHEMA,)) if shared else PostgresUrl(FLOWDB, FLOW_READER)
        ),
        "LANGFLOW_API_URL": Text(f"http://{config.service_hosts['langflow-server']}:{LANGFLOW_PORT}"),
        "REDIS_URL": RedisUrl(),
    }
    services = []
    for app in apps:
        env: dict[str, EnvValue]
        if app.kind is AppKind.BACKEND:
            env = backend_env
        else:
            env = {
                "DATABASE_URL": PostgresUrl(MAIN, app.role, (app.schema, "public")),
                "PRODUCTION_BACKEND_URL": Text(f"http://{config.service_hosts['backend']}:{BACKEND_PORT}"),
            }
        image = images.get(app.service, app.image)
        services += [
            Service(name, image, app.port, dict(env), _http_healthcheck(app.port, "/health")) for name in app.containers
        ]
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
            _http_healthcheck(LANGFLOW_PORT, "/health_check", start_period="3m0s"),
        )
    )
    scheduler = servers[SCHEDULER]
    services.append(
        Service(
            "egm-scheduler",
            images["egm-scheduler"],
            80,
            {
                # CodeIgniter leaves the port unset (3306); mysqlnd reads `host:port` from the host name.
                "DB_HOST": Text(
                    scheduler.service_host
                    if scheduler.service_port == ENGINES[Engine.MYSQL].port
                    else f"{scheduler.service_host}:{scheduler.service_port}"
                ),
                "DB_NAME": Text(scheduler.database),
                "DB_USERNAME": Text(SCHEDULER_USER),
                "DB_PASSWORD": RolePassword(SCHEDULER, SCHEDULER_USER),
                "BASE_URL": Text(config.scheduler_base_url),
                "DEBUG_MODE": Text("FALSE"),
            },
        )
    )
    # Consumers with no container here: their credentials reach them through the `services` output.
    # Readers only: their DSNs list the server's replicas (if any) before the primary.
    services.append(Service("reporting", None, None, {"DATABASE_URL": PostgresUrl(MAIN, ANALYTICS, read_only=True)}))
    compliance: dict[str, EnvValue] = {"DATABASE_URL": PostgresUrl(MAIN, AUDIT_USER, read_only=True)}
    if not shared:
        compliance["LANGFLOW_DATABASE_URL"] = PostgresUrl(FLOWDB, AUDIT_USER, read_only=True)
    services.append(Service("compliance", None, None, compliance))
    services.append(
        Service(
            "postgres-exporter",
            images["postgres-exporter"],
            9187,
            {"DATA_SOURCE_NAME": PostgresUrl(MAIN, MONITOR, explicit_sslmode=True)},
        )
    )
    if not shared:
        services.append(
            Service(
                "postgres-exporter-flowdb",
                images["postgres-exporter"],
                9187,
                {"DATA_SOURCE_NAME": PostgresUrl(FLOWDB, MONITOR, explicit_sslmode=True)},
            )
        )
    # One exporter per replica: lag and streaming are read on the standby itself.
    for server in servers.values():
        for replica in server.replicas:
            services.append(
                Service(
                    f"postgres-exporter-{replica.name}",
                    images["postgres-exporter"],
                    9187,
                    {
                        "DATA_SOURCE_NAME": PostgresUrl(
                            server.name, MONITOR, replica=replica.name, explicit_sslmode=True
                        )
                    },
                )
            )
    return tuple(services)
