"""Instantiates the components of a topology, in dependency order, and computes the stack outputs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_docker as docker

from components.access import AccessGrantsArgs, AccessGroup, AccessGroupArgs
from components.audit import AuditLog, AuditLogArgs
from components.backups import BackupJobs, BackupJobsArgs, MysqlBackupUser, MysqlBackupUserArgs
from components.common import secret_fernet_key, secret_password
from components.containers import Redis, RedisArgs, ServiceContainer, ServiceContainerArgs
from components.pooler import PgBouncer, PgBouncerArgs
from components.roles import DatabaseRole, DatabaseRoleArgs
from components.scheduler import SchedulerDatabase, SchedulerDatabaseArgs
from components.schemas import DatabaseArgs, PostgresDatabase, ServiceSchema, ServiceSchemaArgs
from components.servers import MysqlServer, PostgresServer, ServerArgs
from topology.budget import connection_budgets
from topology.catalog import AUDIT_SCHEMA
from topology.dsn import postgres_url, redis_url
from topology.layout import REDIS_PASSWORD
from topology.model import (
    Engine,
    EnvValue,
    GeneratedSecret,
    Pooler,
    PostgresUrl,
    RedisUrl,
    RolePassword,
    SecretKind,
    Server,
    Text,
    Topology,
)
from topology.monitoring import alert_rules
from topology.pgbouncer import AUTH_FILE, CONFIG_FILE, render_auth_file, render_ini


@dataclass
class _PostgresLayout:
    """What was created on one PostgreSQL server."""

    spec: Server
    server: PostgresServer
    database: PostgresDatabase
    roles: dict[str, DatabaseRole] = field(default_factory=dict)
    schema_ready: dict[str, pulumi.Resource] = field(default_factory=dict)
    """schema -> the last grant on it: the schema is usable by every role of the matrix after it"""

    def ready_for(self, topology: Topology, role: str) -> list[pulumi.Resource]:
        """What a service logging in as `role` waits for: the role (it holds its memberships), its schemas' grants."""
        schemas = {a.schema for a in topology.access if a.server == self.spec.name and a.role == role}
        return [self.roles[role].resource, *(self.schema_ready[s] for s in schemas)]


def _postgres_layout(
    topology: Topology, spec: Server, network: pulumi.Input[str] | None, admin_password: pulumi.Input[str] | None
) -> _PostgresLayout:
    protect = topology.protect
    name = spec.name
    server = PostgresServer(
        name,
        ServerArgs(
            server=spec,
            container_name=f"{topology.network}-{name}",
            network=network,
            admin_password=admin_password,
            protect=protect,
        ),
    )
    # Group roles first: each login role names its groups in its own `roles` (its only memberships).
    groups = {
        group.name: AccessGroup(
            f"{name}-{group.name}",
            AccessGroupArgs(group=group, role=topology.role(name, group.name), provider=server.provider),
        )
        for group in topology.layouts[name].groups
    }
    roles = {
        role.name: DatabaseRole(
            f"{name}-{role.name}",
            DatabaseRoleArgs(
                role=role,
                provider=server.provider,
                protect=protect,
                groups=[groups[g.name].role_name for g in topology.layouts[name].groups if role.name in g.members],
                adopt=role.name in spec.adopt_roles,
            ),
        )
        for role in topology.layouts[name].roles
        if role.name not in groups
    }
    owner = roles[spec.database_owner].name if spec.database_owner else None
    database = PostgresDatabase(
        f"{name}-{spec.database}", DatabaseArgs(server=spec, provider=server.provider, owner=owner, protect=protect)
    )
    layout = _PostgresLayout(spec=spec, server=server, database=database, roles=roles)
    for schema in topology.layouts[name].schemas:
        created = ServiceSchema(
            f"{name}-{schema.name}",
            ServiceSchemaArgs(
                schema=schema,
                provider=server.provider,
                database=database.name,
                owner=roles[schema.owner].name,
                protect=protect,
            ),
        )
        last: pulumi.Resource = created.last
        if schema.name == AUDIT_SCHEMA:
            audit_log = AuditLog(
                f"{name}-audit-log",
                AuditLogArgs(
                    schema=schema.name,
                    owner=schema.owner,
                    host=server.provider_host,
                    port=server.provider_port,
                    admin_user=spec.admin_user,
                    admin_password=server.admin_password,
                    database=database.name,
                    sslmode=spec.sslmode or "disable",
                    sslrootcert=spec.sslrootcert,
                    after=[last, roles[schema.owner]],
                    protect=protect,
                ),
            )
            last = audit_log.last
        for group in topology.layouts[name].groups_on(schema.name):
            last = groups[group.name].grant(
                AccessGrantsArgs(
                    database=database.name, schema=created.name, creator=roles[group.creator].name, after=last
                )
            )
        layout.schema_ready[schema.name] = last
    return layout


def _resolve_env(
    value: EnvValue,
    topology: Topology,
    postgres: dict[str, _PostgresLayout],
    mysql_passwords: dict[str, pulumi.Output[str]],
    secrets: dict[str, pulumi.Output[str]],
) -> pulumi.Input[str]:
    if isinstance(value, Text):
        return value.value
    if isinstance(value, PostgresUrl):
        spec = topology.servers[value.server]
        layout = postgres[value.server]
        role = layout.roles[value.role]
        assert role.password is not None, f"{value.role} is not a login role"
        host, port, search_path = spec.service_host, spec.service_port, value.search_path
        sslmode, sslrootcert = spec.sslmode, spec.sslrootcert
        if value.pooled:
            # PgBouncer refuses `options`; the role-level search_path applies. Its client side is the
            # platform's private network (TLS to the server is the pooler's own setting).
            pooler = topology.poolers[value.server]
            host, port, search_path, sslmode, sslrootcert = pooler.host, pooler.port, (), None, None
        return pulumi.Output.secret(
            pulumi.Output.all(role.name, role.password, layout.database.name).apply(
                lambda args: postgres_url(
                    user=args[0],
                    password=args[1],
                    host=host,
                    port=port,
                    database=args[2],
                    search_path=search_path,
                    sslmode=sslmode,
                    sslrootcert=sslrootcert,
                )
            )
        )
    if isinstance(value, RolePassword):
        if value.server in postgres:
            password = postgres[value.server].roles[value.role].password
            assert password is not None
            return password
        return mysql_passwords[value.role]
    if isinstance(value, GeneratedSecret):
        return secrets[value.name]
    if isinstance(value, RedisUrl):
        redis = topology.redis
        assert redis is not None
        return pulumi.Output.secret(
            secrets[REDIS_PASSWORD].apply(
                lambda password: redis_url(
                    password=password, host=redis.alias, port=redis.port, database=value.database
                )
            )
        )
    raise TypeError(f"unknown env value {value!r}")


def deploy(topology: Topology, admin_passwords: Mapping[str, pulumi.Input[str]]) -> dict[str, Any]:
    """Create every component of the topology; return the stack outputs (name -> value)."""
    network: docker.Network | None = None
    if topology.run_containers:
        network = docker.Network("network", name=topology.network, driver="bridge")
    network_name = network.name if network is not None else None

    postgres = {
        spec.name: _postgres_layout(topology, spec, network_name, admin_passwords.get(spec.name))
        for spec in topology.postgres_servers
    }

    scheduler_spec = topology.servers["scheduler"]
    mysql_server = MysqlServer(
        "scheduler",
        ServerArgs(
            server=scheduler_spec,
            container_name=f"{topology.network}-scheduler",
            network=network_name,
            admin_password=admin_passwords.get("scheduler"),
            protect=topology.protect,
        ),
    )
    scheduler_databases = [
        SchedulerDatabase(
            f"scheduler-{user.database}",
            SchedulerDatabaseArgs(
                user=user,
                provider=mysql_server.provider,
                protect=topology.protect,
                character_set=scheduler_spec.character_set,
                collation=scheduler_spec.collation,
                adopt=scheduler_spec.import_database,
            ),
        )
        for user in topology.database_users
    ]
    mysql_passwords = {
        user.name: db.password for user, db in zip(topology.database_users, scheduler_databases, strict=True)
    }
    mysql_backups: list[MysqlBackupUser] = []
    for job in topology.backups:
        if job.engine is Engine.MYSQL:
            backup_user = MysqlBackupUser(
                f"scheduler-{job.login}",
                MysqlBackupUserArgs(
                    user=job.login, database=scheduler_databases[0].database, provider=mysql_server.provider
                ),
            )
            mysql_backups.append(backup_user)
            mysql_passwords[job.login] = backup_user.password

    secrets_holder = pulumi.ComponentResource("engarde:index:GeneratedSecrets", "secrets")
    secrets = {
        spec.name: secret_fernet_key(spec.name, parent=secrets_holder)
        if spec.kind is SecretKind.FERNET_KEY
        else secret_password(spec.name, length=spec.length, special=spec.special, parent=secrets_holder)
        for spec in topology.secrets
    }
    secrets_holder.register_outputs({})

    pooler_files = {
        server: _pooler_files(topology, pooler, postgres[server]) for server, pooler in topology.poolers.items()
    }

    envs = {
        service.name: {
            key: _resolve_env(value, topology, postgres, mysql_passwords, secrets) for key, value in service.env.items()
        }
        for service in topology.services
    }

    poolers: dict[str, PgBouncer] = {}
    if network is not None and network_name is not None:
        for server, pooler in topology.poolers.items():
            config, auth_file = pooler_files[server]
            poolers[server] = PgBouncer(
                f"{server}-pgbouncer",
                PgBouncerArgs(
                    pooler=pooler,
                    config=config,
                    auth_file=auth_file,
                    container_name=f"{topology.network}-{server}-pgbouncer",
                    network=network_name,
                    depends_on=[postgres[server].roles[user.role].resource for user in pooler.users],
                ),
            )
        if topology.redis is not None:
            Redis(
                "redis",
                RedisArgs(
                    redis=topology.redis,
                    password=secrets[REDIS_PASSWORD],
                    container_name=f"{topology.network}-redis",
                    network=network_name,
                ),
            )
        for service in topology.services:
            if service.image is None:
                continue
            logins = _logins_used(service.env.values())
            ServiceContainer(
                service.name,
                ServiceContainerArgs(
                    service=service,
                    env=envs[service.name],
                    container_name=f"{topology.network}-{service.name}",
                    network=network_name,
                    depends_on=[
                        *[r for s, role in logins if s in postgres for r in postgres[s].ready_for(topology, role)],
                        *(scheduler_databases if any(s == "scheduler" for s, _ in logins) else []),
                        *(poolers[s] for s in _pooled_servers(service.env.values()) if s in poolers),
                    ],
                    ca_files=sorted(
                        {ca for s, _ in logins if s in postgres and (ca := topology.servers[s].sslrootcert)}
                    ),
                ),
            )

        if topology.backups:
            BackupJobs(
                "backups",
                BackupJobsArgs(
                    jobs=topology.backups,
                    envs={job.service: envs[job.service] for job in topology.backups},
                    volume_name=f"{topology.network}-backups",
                    container_prefix=topology.network,
                    network=network_name,
                    depends_on={
                        job.service: postgres[job.server].ready_for(topology, job.login)
                        if job.server in postgres
                        else [*scheduler_databases, *mysql_backups]
                        for job in topology.backups
                    },
                    protect=topology.protect,
                ),
            )

    services_output: dict[str, Any] = {name: {"env": env} for name, env in envs.items()}
    for server, pooler in topology.poolers.items():
        config, auth_file = pooler_files[server]
        # What a platform needs to run the pooler itself (prod): its image and its two files.
        services_output[f"pgbouncer-{server}"] = {
            "env": {},
            "image": pooler.image,
            "files": {CONFIG_FILE: config, AUTH_FILE: auth_file},
        }
    return {
        "services": pulumi.Output.secret(services_output),
        "connectionBudget": {name: budget.as_dict() for name, budget in connection_budgets(topology).items()},
        "servers": {
            name: {
                "engine": spec.engine.value,
                "mode": spec.mode.value,
                "host": spec.provider_host,
                "port": spec.provider_port,
                "serviceHost": spec.service_host,
                "servicePort": spec.service_port,
                "databases": [spec.database],
            }
            for name, spec in topology.servers.items()
        },
        "accessMatrix": [
            {"server": a.server, "database": a.database, "schema": a.schema, "role": a.role, "profile": a.profile.value}
            for a in topology.access
        ],
        # JSON is YAML: `pulumi stack output alertRules > rules.yml` gives Prometheus its rules file.
        "alertRules": json.dumps(alert_rules(topology), indent=2),
    }


def _pooler_files(topology: Topology, pooler: Pooler, layout: _PostgresLayout) -> tuple[str, pulumi.Output[str]]:
    """pgbouncer.ini (plain) and its auth_file (secret: the pooled roles' SCRAM verifiers)."""
    names = [user.role for user in pooler.users]
    verifiers = [layout.roles[name].verifier for name in names]
    auth_file = pulumi.Output.all(*verifiers).apply(
        lambda values: render_auth_file(dict(zip(names, values, strict=True)))
    )
    return render_ini(pooler, topology.servers[pooler.server]), pulumi.Output.secret(auth_file)


def _pooled_servers(values: Any) -> set[str]:
    return {value.server for value in values if isinstance(value, PostgresUrl) and value.pooled}


def _logins_used(values: Any) -> set[tuple[str, str]]:
    """(server, role) of every credential in a service's env."""
    return {(value.server, value.role) for value in values if isinstance(value, (PostgresUrl, RolePassword))}
