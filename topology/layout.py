"""EnGarde's layout (access matrix and service wiring: docs/access-model.md) from validated stack config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from topology.access_model import Access, AccessGroup, DatabaseUser, Profile, Role, Schema
from topology.backups import backup_jobs, backup_role, backup_service, backup_service_name
from topology.budget import check_connection_budgets
from topology.capabilities import check_admin_grants
from topology.catalog import (
    ANALYTICS,
    AUDIT_OWNER,
    AUDIT_SCHEMA,
    AUDIT_USER,
    BACKUP_ROLE,
    ENGARDE_APPS,
    FLOW_READER,
    FLOWDB,
    FOREIGN_SERVER,
    LANGFLOW_APP,
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
    App,
)
from topology.config import ConfigOrigin, StackConfig, parse_config
from topology.model import CrossDatabaseReads, Engine, Placement, Server, Topology
from topology.monitoring import with_exporter_queries
from topology.names import ConfigError
from topology.pgbouncer import pooler_service_name
from topology.replication import replicator_connection_limit
from topology.servers import check_pooler_aliases, server_and_pooler_hosts, server_from_config
from topology.service_model import GeneratedSecretSpec, Redis, SecretKind
from topology.service_wiring import (
    LANGFLOW_SECRET_KEY,
    LANGFLOW_SUPERUSER_PASSWORD,
    REDIS_PASSWORD,
    REDIS_SERVICE,
    layout_services,
    through_poolers,
)
from topology.upgrades import deployed_data, with_data_volumes


def load_topology(
    raw: Mapping[str, Any],
    stack: str,
    origin: ConfigOrigin | None = None,
    deployed_outputs: Mapping[str, Any] | None = None,
) -> Topology:
    """Stack config (keys without namespace) -> the validated topology (`origin`: see `parse_config`;
    `deployed_outputs`: the stack's outputs as its last update left them, none before the first)."""
    return build_topology(parse_config(raw, origin), stack, deployed_outputs or {})


def build_topology(config: StackConfig, stack: str, deployed_outputs: Mapping[str, Any] | None = None) -> Topology:
    """The whole layout: roles, schemas, the access matrix, groups and service wiring."""
    network = f"engarde-{stack}"
    servers, notices = with_data_volumes(
        {name: server_from_config(server) for name, server in config.servers.items()},
        deployed_data(deployed_outputs or {}, network),
        frozenset(name for name, server in config.servers.items() if server.allow_major_upgrade),
    )
    shared = config.placement is Placement.SHARED
    main_db = servers[MAIN].database

    apps = list(ENGARDE_APPS)
    # Names a configured service may not take: every service and schema the layout has without it,
    # and the container names and network aliases of its servers and poolers (`<network>-<name>`).
    hosts = server_and_pooler_hosts(config, servers)
    taken_services = {
        *(service.name for service in layout_services(config, servers, apps, shared)),
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
    check_pooler_aliases(config, taken_services | {config.service_hosts[REDIS_SERVICE]})
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
    services, poolers = through_poolers(config, layout_services(config, servers, apps, shared), roles)
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
