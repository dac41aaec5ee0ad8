"""The layout's services and their environment: which DSNs, secrets and URLs each one is given, and which
of its DSNs go through its server's pooler."""

from __future__ import annotations

from dataclasses import replace

from topology.access_model import Role
from topology.catalog import (
    ANALYTICS,
    AUDIT_USER,
    BACKEND_PORT,
    ENGINES,
    FLOW_READER,
    FLOWDB,
    LANGFLOW_APP,
    LANGFLOW_PORT,
    LANGFLOW_READER,
    LANGFLOW_SCHEMA,
    MAIN,
    MONITOR,
    SCHEDULER,
    SCHEDULER_USER,
    App,
    AppKind,
)
from topology.config import StackConfig
from topology.model import Engine, Pooler, PoolUser, Server
from topology.service_model import (
    EnvValue,
    GeneratedSecret,
    Healthcheck,
    PostgresUrl,
    RedisUrl,
    RolePassword,
    Service,
    Text,
)

LANGFLOW_SECRET_KEY = "langflow-secret-key"
LANGFLOW_SUPERUSER_PASSWORD = "langflow-superuser-password"
REDIS_PASSWORD = "redis-password"
REDIS_SERVICE = "redis"


def layout_services(
    config: StackConfig, servers: dict[str, Server], apps: list[App], shared: bool
) -> tuple[Service, ...]:
    """The layout's services (the apps' containers, Langflow, the scheduler, the exporters, and consumers with
    no container here), each with the environment it is given; its DSNs direct (see `through_poolers`)."""
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


def _http_healthcheck(port: int, path: str, start_period: str = "30s") -> Healthcheck:
    """A GET of `path` on the service's own port, with the Python its image runs (EnGarde's services and
    Langflow are Python images; EnGarde's serve `/health`)."""
    return Healthcheck(
        f"python -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=4)\"",
        start_period=start_period,
    )


def through_poolers(
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
