"""What EnGarde's layout is made of, one entry per thing: its servers, its services, its platform logins.

A new EnGarde service that owns a schema on main is one `App` line in `ENGARDE_APPS`; a new server is
one `ServerEntry` line in `SERVERS` plus the layout it holds (`topology/layout.py`). Config keys
(`images.<service>`, `connectionLimits.<key>`, `servers.<name>`), their defaults and the names a
configured service may not take are derived from these entries, never listed a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from topology.model import Engine

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
BACKUP_ROLE = "engarde_backup"
REPLICATOR = "engarde_replicator"
LANGFLOW_SCHEMA = "langflow"
REMOTE_SCHEMA = "langflow_remote"
"""crossDatabaseReads: on main, the foreign tables of Langflow's tables on flowdb."""
REMOTE_OWNER = "langflow_remote_owner"
"""crossDatabaseReads: NOLOGIN owner of the remote schema and what is imported into it."""
FOREIGN_SERVER = "engarde_flowdb"
"""crossDatabaseReads: main's postgres_fdw server for flowdb."""
FDW_EXTENSION = "postgres_fdw"
REFRESH_FUNCTION = "refresh_foreign_tables"
"""crossDatabaseReads: `langflow_remote.refresh_foreign_tables()` re-imports Langflow's tables."""

BACKEND_PORT = 8000
LANGFLOW_PORT = 7860
DEFAULT_SERVICE_CONNECTION_LIMIT = 15
"""An application service's pool: 5 connections plus 10 overflow."""


@dataclass(frozen=True)
class EngineDefaults:
    """What every server of one engine starts from."""

    image: str
    """Container image (container mode)."""
    admin_user: str
    """Role or user the provider connects as."""
    port: int
    """Port the server listens on."""


ENGINES: dict[Engine, EngineDefaults] = {
    Engine.POSTGRESQL: EngineDefaults("postgres:15.8", "postgres", 5432),
    Engine.MYSQL: EngineDefaults("mysql:8.0.39", "root", 3306),
}


@dataclass(frozen=True)
class ServerEntry:
    """A server of the layout, with its defaults."""

    name: str
    """Logical name: the `servers.<name>` config key, the component's name, the DSNs' server."""
    engine: Engine
    """Database engine."""
    host_port: int
    """Default `hostPort` of its container (each container server needs its own)."""
    container_database: str
    """Default database in container mode."""
    external_database: str
    """Default database of an existing (managed) server."""
    database_owner: str | None = None
    """Role that owns a database the stack creates (None: the admin)."""
    dedicated_to_langflow: bool = False
    """Only exists when Langflow has its own server (`langflowPlacement: dedicated`)."""


SERVERS = (
    ServerEntry(MAIN, Engine.POSTGRESQL, 5432, "engarde", "railway"),
    ServerEntry(FLOWDB, Engine.POSTGRESQL, 5433, "langflow", "railway", LANGFLOW_APP, dedicated_to_langflow=True),
    ServerEntry(SCHEDULER, Engine.MYSQL, 3306, "easyappointments", "easyappointments"),
)
SERVER_ENTRIES = {entry.name: entry for entry in SERVERS}


class AppKind(StrEnum):
    """What an EnGarde app's environment holds besides its DSN."""

    BACKEND = "backend"
    """The backend: Langflow's database and API, Redis."""
    MICROSERVICE = "microservice"
    """A service that calls the backend."""


@dataclass(frozen=True)
class App:
    """An EnGarde service that owns a schema on main: its image, schema, role, port and reads."""

    service: str
    """Service name: `images.<service>`, container and output name."""
    schema: str
    """Schema it owns on main (runs its migrations there)."""
    role: str
    """Its login role, owner of the schema."""
    image: str = ""
    """Default image (`images.<service>` overrides it)."""
    port: int = BACKEND_PORT
    """Port it listens on."""
    reads: tuple[str, ...] = ()
    """Other schemas on main it reads."""
    description: str = ""
    """Who uses its role."""
    connection_limit: int = DEFAULT_SERVICE_CONNECTION_LIMIT
    """Default `connectionLimits.<service>` of its role."""
    kind: AppKind = AppKind.MICROSERVICE
    """What its environment holds besides its DSN."""
    instances: tuple[str, ...] = ()
    """Containers running it (default: one, named as the service)."""

    @property
    def containers(self) -> tuple[str, ...]:
        return self.instances or (self.service,)


ENGARDE_APPS = (
    App(
        "backend",
        "public",
        "engarde_app",
        "ghcr.io/engardehq/production-backend:stable",
        description='backend "Main" and "Main Copy"',
        connection_limit=2 * DEFAULT_SERVICE_CONNECTION_LIMIT,  # backend and backend-copy: two pools
        kind=AppKind.BACKEND,
        instances=("backend", "backend-copy"),
    ),
    App("madan-sara", "madansara", "madansara_user", "ghcr.io/engardehq/madan-sara:stable", description="madan-sara"),
    App(
        "sankore-paidads",
        "sankore",
        "sankore_user",
        "ghcr.io/engardehq/sankore-paidads:stable",
        description="sankore-paidads",
    ),
    App("onside", "onside", "onside_user", "ghcr.io/engardehq/onside:stable", description="onside"),
    App(
        "capilytics-seo",
        "capilytics",
        "capilytics_user",
        "ghcr.io/engardehq/capilytics-seo:stable",
        description="capilytics-seo",
    ),
)


@dataclass(frozen=True)
class PlatformLogin:
    """A login role of the layout that no EnGarde app owns."""

    role: str
    """Role name (the same on every server it is on)."""
    limit_key: str
    """Its `connectionLimits.<key>`."""
    connection_limit: int
    """Default CONNECTION LIMIT."""


PLATFORM_LOGINS = (
    PlatformLogin(LANGFLOW_APP, "langflow-server", DEFAULT_SERVICE_CONNECTION_LIMIT),
    PlatformLogin(LANGFLOW_READER, "langflow-reader", 5),
    PlatformLogin(FLOW_READER, "flow-reader", 5),
    PlatformLogin(ANALYTICS, "reporting", 5),
    PlatformLogin(AUDIT_USER, "compliance", 3),
    PlatformLogin(MONITOR, "monitor", 3),
    PlatformLogin(BACKUP_ROLE, "backup", 2),
)

LIMIT_KEYS: dict[str, str] = {
    **{app.role: app.service for app in ENGARDE_APPS},
    **{login.role: login.limit_key for login in PLATFORM_LOGINS},
}
"""Built-in login role -> its `connectionLimits` key (a role on two servers has one limit on each)."""

BUILTIN_CONNECTION_LIMITS: dict[str, int] = {
    **{app.service: app.connection_limit for app in ENGARDE_APPS},
    **{login.limit_key: login.connection_limit for login in PLATFORM_LOGINS},
}
"""`engarde:connectionLimits.<key>` defaults: the CONNECTION LIMIT of each built-in login role."""

LANGFLOW_VERSION = "1.13.0"
"""The Langflow release the stack runs: its image tag, and the langflow-base the real-server tests run
(tests/realdb/test_langflow.py) against the databases the stack provisions."""

PLATFORM_IMAGES = {
    "langflow-server": f"langflowai/langflow:{LANGFLOW_VERSION}",
    "egm-scheduler": "alextselegidis/easyappointments:1.5.0",
    "redis": "redis:7.2.5-alpine",
    "postgres-exporter": "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
    "pgbouncer": "edoburu/pgbouncer:v1.24.1-p1",
}
"""Images of the services EnGarde does not build."""

DEFAULT_IMAGES: dict[str, str] = {**{app.service: app.image for app in ENGARDE_APPS}, **PLATFORM_IMAGES}
"""`engarde:images.<name>` defaults."""
