"""Instantiates the components of a topology, in dependency order, and computes the stack outputs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_docker as docker

from components.backups import BackupJobs, BackupJobsArgs
from components.common import moved_from_root, secret_fernet_key, secret_password
from components.containers import Redis, RedisArgs, ServiceContainer, ServiceContainerArgs
from components.cross_reads import CrossDatabaseReads, CrossDatabaseReadsArgs
from components.pooler import PgBouncer, PgBouncerArgs
from components.servers import MysqlServer, PostgresServer, ServerArgs
from resource_types import GENERATED_SECRETS
from topology.budget import connection_budgets
from topology.dsn import postgres_url, redis_url
from topology.model import CrossDatabaseReads as CrossDatabaseReadsSpec
from topology.model import (
    Engine,
    EnvValue,
    GeneratedSecret,
    Pooler,
    PostgresUrl,
    RedisUrl,
    RolePassword,
    SecretKind,
    Text,
    Topology,
)
from topology.monitoring import alert_rules
from topology.pgbouncer import AUTH_FILE, CONFIG_FILE, pooler_service_name, render_auth_file, render_ini
from topology.replication import dsn_routes, route
from topology.service_wiring import REDIS_PASSWORD, REDIS_SERVICE
from topology.upgrades import data_output


def _resolve_env(
    value: EnvValue,
    topology: Topology,
    postgres: dict[str, PostgresServer],
    mysql: dict[str, MysqlServer],
    secrets: dict[str, pulumi.Output[str]],
) -> pulumi.Input[str]:
    if isinstance(value, Text):
        return value.value
    if isinstance(value, PostgresUrl):
        spec = topology.servers[value.server]
        layout = postgres[value.server]
        role = layout.roles[value.role]
        assert role.password is not None, f"{value.role} is not a login role"
        found = route(value, topology)
        (host, port), more_hosts = found.hosts[0], found.hosts[1:]
        search_path, sslmode, sslrootcert = value.search_path, spec.sslmode, spec.sslrootcert
        if sslmode is None and value.explicit_sslmode:
            sslmode = "disable"
        if value.pooled:
            # PgBouncer refuses `options`; the role-level search_path applies. Its client side is the
            # platform's private network (TLS to the server is the pooler's own setting).
            search_path, sslmode, sslrootcert = (), None, None
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
                    more_hosts=more_hosts,
                    target_session_attrs=found.target_session_attrs,
                    load_balance_hosts=found.load_balance_hosts,
                )
            )
        )
    if isinstance(value, RolePassword):
        if value.server in postgres:
            password = postgres[value.server].roles[value.role].password
            assert password is not None
            return password
        return mysql[value.server].passwords[value.role]
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
    subnet = network.ipam_configs.apply(_subnet) if network is not None else None

    postgres, mysql = _servers(topology, network_name, admin_passwords, subnet)
    if topology.cross_database_reads is not None:
        _cross_database_reads(topology.cross_database_reads, postgres)
    secrets = _secrets(topology)
    pooler_files = {
        server: _pooler_files(topology, pooler, postgres[server]) for server, pooler in topology.poolers.items()
    }
    envs = {
        service.name: {
            key: _resolve_env(value, topology, postgres, mysql, secrets) for key, value in service.env.items()
        }
        for service in topology.services
    }

    if network is not None and network_name is not None:
        poolers = _poolers(topology, network_name, postgres, pooler_files)
        _containers(topology, network_name, secrets, envs, postgres, mysql, poolers)
        if topology.backups:
            _backups(topology, network_name, envs, postgres, mysql)

    services_output: dict[str, Any] = {name: {"env": env} for name, env in envs.items()}
    for server, pooler in topology.poolers.items():
        config, auth_file = pooler_files[server]
        # What a platform needs to run the pooler itself (prod): its image and its two files.
        services_output[pooler_service_name(server)] = {
            "env": {},
            "image": pooler.image,
            "files": {CONFIG_FILE: config, AUTH_FILE: auth_file},
        }
    if topology.redis is not None:
        # The Redis that REDIS_URL points at needs that password: in dev the stack's container has it;
        # in prod the platform's Redis reads it from here (`redis-server --requirepass "$REDIS_PASSWORD"`).
        services_output[REDIS_SERVICE] = {
            "env": {"REDIS_PASSWORD": secrets[REDIS_PASSWORD]},
            "image": topology.redis.image,
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
                **({"replicas": [r.endpoint for r in spec.replicas]} if spec.replicas else {}),
                # Read back by the next update: the major its data volume holds (topology/upgrades.py).
                **({"data": data_output(spec.data, topology.network, name)} if spec.data else {}),
            }
            for name, spec in topology.servers.items()
        },
        # Who logs in where, without a secret: what dashboards and the review views need.
        "logins": [
            {"service": service.name, "server": server, "role": role}
            for service in topology.services
            for server, role in service.logins
        ],
        # Which hosts each DSN lists (readers: the replicas, then the primary), without a secret.
        "dsnRoutes": dsn_routes(topology),
        "accessMatrix": [
            {"server": a.server, "database": a.database, "schema": a.schema, "role": a.role, "profile": a.profile.value}
            for a in topology.access
        ],
        # JSON is YAML: `pulumi stack output alertRules > rules.yml` gives Prometheus its rules file.
        "alertRules": json.dumps(alert_rules(topology), indent=2),
    }


def _subnet(configs: list[docker.outputs.NetworkIpamConfig] | None) -> str:
    """The Docker network's (first) IPv4 subnet, as Docker assigned it."""
    for config in configs or []:
        subnet = str(config.subnet or "")
        if subnet and ":" not in subnet:
            return subnet
    raise ValueError("the Docker network reports no IPv4 subnet: the replicas' pg_hba rule needs one")


def _servers(
    topology: Topology,
    network: pulumi.Input[str] | None,
    admin_passwords: Mapping[str, pulumi.Input[str]],
    subnet: pulumi.Input[str] | None,
) -> tuple[dict[str, PostgresServer], dict[str, MysqlServer]]:
    """Each server with its layout, in the topology's order."""
    postgres: dict[str, PostgresServer] = {}
    mysql: dict[str, MysqlServer] = {}
    reads = topology.cross_database_reads
    for name, layout in topology.layouts.items():
        args = ServerArgs(
            layout=layout,
            container_name=f"{topology.network}-{name}",
            network=network,
            admin_password=admin_passwords.get(name),
            protect=topology.protect,
            backups=tuple(job for job in topology.backups if job.server == name),
            replicas_network=subnet,
            database_provider=reads is not None and reads.server == name,
        )
        if layout.engine is Engine.POSTGRESQL:
            postgres[name] = PostgresServer(name, args)
        else:
            mysql[name] = MysqlServer(name, args)
    return postgres, mysql


def _cross_database_reads(reads: CrossDatabaseReadsSpec, postgres: dict[str, PostgresServer]) -> None:
    """postgres_fdw on main, under main's component, once the remote read-only login can read."""
    local, remote = postgres[reads.server], postgres[reads.remote_server]
    remote_password = remote.roles[reads.remote_role].password
    assert remote_password is not None
    CrossDatabaseReads(
        "cross-database-reads",
        CrossDatabaseReadsArgs(
            reads=reads,
            provider=local.database_provider,
            database=local.database.name,
            mapped_roles={role: local.roles[role].name for role in reads.mapped_roles},
            remote_password=remote_password,
            admin=local.admin_endpoint,
            depends_on=[local.schemas[reads.schema].grants.last, *remote.ready_for(reads.remote_role)],
        ),
        opts=pulumi.ResourceOptions(parent=local),
    )


def _secrets(topology: Topology) -> dict[str, pulumi.Output[str]]:
    """The generated secrets, under one component."""
    holder = pulumi.ComponentResource(GENERATED_SECRETS, "secrets")
    secrets = {
        spec.name: secret_fernet_key(spec.name, parent=holder)
        if spec.kind is SecretKind.FERNET_KEY
        else secret_password(spec.name, length=spec.length, special=spec.special, parent=holder)
        for spec in topology.secrets
    }
    holder.register_outputs({})
    return secrets


def _poolers(
    topology: Topology,
    network: pulumi.Input[str],
    postgres: dict[str, PostgresServer],
    pooler_files: dict[str, tuple[str, pulumi.Output[str]]],
) -> dict[str, PgBouncer]:
    """Each PgBouncer container, under its server."""
    poolers: dict[str, PgBouncer] = {}
    for server, pooler in topology.poolers.items():
        config, auth_file = pooler_files[server]
        poolers[server] = PgBouncer(
            f"{server}-pgbouncer",
            PgBouncerArgs(
                pooler=pooler,
                config=config,
                auth_file=auth_file,
                container_name=f"{topology.network}-{server}-pgbouncer",
                network=network,
                depends_on=[postgres[server].roles[user.role].resource for user in pooler.users],
            ),
            opts=moved_from_root(postgres[server]),
        )
    return poolers


def _containers(
    topology: Topology,
    network: pulumi.Input[str],
    secrets: dict[str, pulumi.Output[str]],
    envs: dict[str, dict[str, pulumi.Input[str]]],
    postgres: dict[str, PostgresServer],
    mysql: dict[str, MysqlServer],
    poolers: dict[str, PgBouncer],
) -> None:
    """Redis and each service's container, started once the logins and grants it uses exist."""
    if topology.redis is not None:
        Redis(
            "redis",
            RedisArgs(
                redis=topology.redis,
                password=secrets[REDIS_PASSWORD],
                container_name=f"{topology.network}-redis",
                network=network,
            ),
        )
    for service in topology.services:
        if service.image is None:
            continue
        logins = service.logins
        ServiceContainer(
            service.name,
            ServiceContainerArgs(
                service=service,
                env=envs[service.name],
                container_name=f"{topology.network}-{service.name}",
                network=network,
                depends_on=[
                    *[r for s, role in logins if s in postgres for r in postgres[s].ready_for(role)],
                    *(db for s in sorted({s for s, _ in logins if s in mysql}) for db in mysql[s].databases),
                    *(poolers[s] for s in service.pooled_servers if s in poolers),
                ],
                ca_files=sorted({ca for s, _ in logins if s in postgres and (ca := topology.servers[s].sslrootcert)}),
            ),
        )


def _backups(
    topology: Topology,
    network: pulumi.Input[str],
    envs: dict[str, dict[str, pulumi.Input[str]]],
    postgres: dict[str, PostgresServer],
    mysql: dict[str, MysqlServer],
) -> None:
    """The dumps' volume and one job container per database, each after the login it dumps with."""
    BackupJobs(
        "backups",
        BackupJobsArgs(
            jobs=topology.backups,
            envs={job.service: envs[job.service] for job in topology.backups},
            volume_name=f"{topology.network}-backups",
            container_prefix=topology.network,
            network=network,
            depends_on={
                job.service: postgres[job.server].ready_for(job.login)
                if job.server in postgres
                else [*mysql[job.server].databases, *mysql[job.server].backup_users]
                for job in topology.backups
            },
            protect=topology.protect,
        ),
    )


def _pooler_files(topology: Topology, pooler: Pooler, layout: PostgresServer) -> tuple[str, pulumi.Output[str]]:
    """pgbouncer.ini (plain) and its auth_file (secret: the pooled roles' SCRAM verifiers)."""
    names = [user.role for user in pooler.users]
    verifiers = [layout.roles[name].verifier for name in names]
    auth_file = pulumi.Output.all(*verifiers).apply(
        lambda values: render_auth_file(dict(zip(names, values, strict=True)))
    )
    return render_ini(pooler, topology.servers[pooler.server]), pulumi.Output.secret(auth_file)
