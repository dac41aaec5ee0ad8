"""Database servers: a container the stack runs (with its volume), or an existing server;
each with the provider that manages what lives in it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
import pulumi_mysql as mysql
import pulumi_postgresql as postgresql

from components.common import TYPE_PREFIX, child, secret_env, secret_password
from topology.budget import PROVIDER_MAX_CONNECTIONS
from topology.model import Engine, Mode, Server

_DATA_DIRS = {Engine.POSTGRESQL: "/var/lib/postgresql/data", Engine.MYSQL: "/var/lib/mysql"}

# The init server of both images listens on the socket only: a TCP check proves the real one is up.
_HEALTHCHECKS = {
    Engine.POSTGRESQL: 'pg_isready -h 127.0.0.1 -p 5432 -U "$POSTGRES_USER" -d postgres',
    # `mysqladmin ping` succeeds even when the login is refused: run a real query over TCP.
    Engine.MYSQL: 'mysql --protocol=TCP -h 127.0.0.1 -uroot -p"$MYSQL_ROOT_PASSWORD" -e "SELECT 1"',
}


@dataclass
class ServerArgs:
    """Inputs of a database server component."""

    server: Server
    """The server as the topology describes it."""
    container_name: str
    """Docker container name (container mode)."""
    network: pulumi.Input[str] | None = None
    """Docker network the container joins (container mode)."""
    admin_password: pulumi.Input[str] | None = None
    """Admin password of an external server (secret config); generated for containers."""
    protect: bool = False
    """Protect the container and its volume (prod)."""


def _container_env(engine: Engine, admin_user: str, password: pulumi.Output[str]) -> pulumi.Output[list[str]]:
    envs: list[pulumi.Input[str]]
    if engine is Engine.POSTGRESQL:
        envs = [pulumi.Output.concat("POSTGRES_PASSWORD=", password), f"POSTGRES_USER={admin_user}"]
    else:
        envs = [pulumi.Output.concat("MYSQL_ROOT_PASSWORD=", password)]
    return secret_env(envs)


def _command(server: Server) -> list[str] | None:
    """PostgreSQL's connection settings on the image's own command line (its entrypoint passes them on)."""
    if server.engine is not Engine.POSTGRESQL:
        return None
    return [
        "postgres",
        "-c",
        f"max_connections={server.max_connections}",
        "-c",
        f"superuser_reserved_connections={server.reserved_connections}",
    ]


def _published(ports: list[docker.outputs.ContainerPort] | None) -> docker.outputs.ContainerPort:
    if not ports:
        raise ValueError("the database container publishes no port")
    return ports[0]


class _DatabaseServer(pulumi.ComponentResource):
    """What both engines share: the admin password, the container and its volume, the endpoint."""

    admin_password: pulumi.Output[str]
    provider_host: pulumi.Output[str]
    provider_port: pulumi.Output[int]

    def __init__(self, type_name: str, name: str, args: ServerArgs, opts: pulumi.ResourceOptions | None) -> None:
        super().__init__(f"{TYPE_PREFIX}:{type_name}", name, None, opts)
        server = args.server
        if server.mode is Mode.EXTERNAL:
            if args.admin_password is None:
                raise ValueError(f"server {server.name}: an external server needs its admin password")
            self.admin_password = pulumi.Output.secret(args.admin_password)
            self.provider_host = pulumi.Output.from_input(server.provider_host)
            self.provider_port = pulumi.Output.from_input(server.provider_port)
            return
        self.admin_password = secret_password(
            f"{name}-admin-password", length=32, special=False, parent=self, protect=args.protect
        )
        volume = docker.Volume(
            f"{name}-data",
            name=f"{args.container_name}-data",
            opts=child(self, protect=args.protect, retain_on_delete=args.protect),
        )
        internal_port = server.service_port
        container = docker.Container(
            f"{name}-container",
            name=args.container_name,
            image=server.image,
            envs=_container_env(server.engine, server.admin_user, self.admin_password),
            command=_command(server),
            ports=[docker.ContainerPortArgs(internal=internal_port, external=server.provider_port, ip="127.0.0.1")],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=args.network, aliases=[server.service_host])]
            if args.network is not None
            else None,
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path=_DATA_DIRS[server.engine])],
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD-SHELL", _HEALTHCHECKS[server.engine]],
                interval="2s",
                timeout="5s",
                retries=60,
                start_period="5s",
            ),
            restart="unless-stopped",
            # The provider connects as soon as this resource exists: create it healthy, never racing.
            wait=True,
            wait_timeout=180,
            opts=child(self, protect=args.protect),
        )
        # Host and port come from the container's outputs, so the provider waits for it through data.
        self.provider_host = container.ports.apply(lambda ports: _published(ports).ip or "127.0.0.1")
        self.provider_port = container.ports.apply(lambda ports: int(_published(ports).external or 0))


class PostgresServer(_DatabaseServer):
    """A PostgreSQL server and its `postgresql.Provider`."""

    provider: postgresql.Provider

    def __init__(self, name: str, args: ServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("PostgresServer", name, args, opts)
        server = args.server
        self.provider = postgresql.Provider(
            f"{name}-provider",
            host=self.provider_host,
            port=self.provider_port,
            username=server.admin_user,
            password=self.admin_password,
            database=server.database if server.adopt_database else "postgres",
            sslmode=server.sslmode or "disable",
            sslrootcert=server.sslrootcert,
            superuser=server.superuser,
            connect_timeout=30,
            max_connections=PROVIDER_MAX_CONNECTIONS,
            opts=child(self),
        )
        self.register_outputs({"host": self.provider_host, "port": self.provider_port})


class MysqlServer(_DatabaseServer):
    """A MySQL server and its `mysql.Provider`."""

    provider: mysql.Provider

    def __init__(self, name: str, args: ServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("MysqlServer", name, args, opts)
        server = args.server
        tls = {"require": "skip-verify", "verify-ca": "true", "verify-full": "true"}.get(server.sslmode or "", "false")
        self.provider = mysql.Provider(
            f"{name}-provider",
            endpoint=pulumi.Output.concat(self.provider_host, ":", self.provider_port.apply(str)),
            username=server.admin_user,
            password=self.admin_password,
            tls=tls,
            opts=child(self),
        )
        self.register_outputs({"host": self.provider_host, "port": self.provider_port})
