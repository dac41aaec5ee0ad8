"""Database servers: a container the stack runs (with its volume), or an existing server;
each with the provider that manages what lives in it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
import pulumi_mysql as mysql
import pulumi_postgresql as postgresql
import pulumi_random as random

from components.access import AccessGroup, AccessGroupArgs
from components.audit import AuditLog, AuditLogArgs
from components.backups import MysqlBackupUser, MysqlBackupUserArgs
from components.common import TYPE_PREFIX, child, moved_from, moved_from_root, secret_env, secret_password
from components.ordering import SchemaGrants
from components.replicas import PostgresReplica, PostgresReplicaArgs
from components.roles import DatabaseRole, DatabaseRoleArgs
from components.scheduler import SchedulerDatabase, SchedulerDatabaseArgs
from components.schemas import DatabaseArgs, PostgresDatabase, ServiceSchema, ServiceSchemaArgs
from components.sql_script import AdminEndpoint
from topology.budget import PROVIDER_MAX_CONNECTIONS
from topology.catalog import AUDIT_SCHEMA, REPLICATOR
from topology.model import BackupJob, Engine, Mode, Schema, Server, ServerLayout, data_volume_name
from topology.replication import HBA_FILE, primary_settings, render_hba

_DATA_DIRS = {Engine.POSTGRESQL: "/var/lib/postgresql/data", Engine.MYSQL: "/var/lib/mysql"}

_IN_THE_DATA = ("postgresql:", "mysql:", "pulumi-python:dynamic:")
"""Types of what a container server's provider (or the SQL scripts) create in it."""

# The init server of both images listens on the socket only: a TCP check proves the real one is up.
_HEALTHCHECKS = {
    Engine.POSTGRESQL: 'pg_isready -h 127.0.0.1 -p 5432 -U "$POSTGRES_USER" -d postgres',
    # `mysqladmin ping` succeeds even when the login is refused: run a real query over TCP.
    Engine.MYSQL: 'mysql --protocol=TCP -h 127.0.0.1 -uroot -p"$MYSQL_ROOT_PASSWORD" -e "SELECT 1"',
}


@dataclass
class ServerArgs:
    """Inputs of a database server component."""

    layout: ServerLayout
    """The server and what the topology puts on it."""
    container_name: str
    """Docker container name (container mode)."""
    network: pulumi.Input[str] | None = None
    """Docker network the container joins (container mode)."""
    admin_password: pulumi.Input[str] | None = None
    """Admin password of an external server (secret config); generated for containers."""
    protect: bool = False
    """Protect the container and its volume (prod), and what holds data on the server."""
    backups: tuple[BackupJob, ...] = ()
    """MySQL: the backup jobs of the server, each with the user it logs in as."""
    replicas_network: pulumi.Input[str] | None = None
    """The Docker network's subnet: where a container primary accepts its replicas' replication from."""
    database_provider: bool = False
    """PostgreSQL: also a provider connected to the layout's database (foreign servers and user
    mappings are created in the provider's own database), where the server's provider is not."""

    @property
    def server(self) -> Server:
        return self.layout.server


def _container_env(engine: Engine, admin_user: str, password: pulumi.Output[str]) -> pulumi.Output[list[str]]:
    envs: list[pulumi.Input[str]]
    if engine is Engine.POSTGRESQL:
        envs = [pulumi.Output.concat("POSTGRES_PASSWORD=", password), f"POSTGRES_USER={admin_user}"]
    else:
        envs = [pulumi.Output.concat("MYSQL_ROOT_PASSWORD=", password)]
    return secret_env(envs)


def _command(server: Server) -> list[str] | None:
    """PostgreSQL's settings on the image's own command line (its entrypoint passes them on)."""
    if server.engine is not Engine.POSTGRESQL:
        return None
    return ["postgres", *(part for setting in primary_settings(server) for part in ("-c", setting))]


def _uploads(server: Server, replicas_network: pulumi.Input[str] | None) -> list[docker.ContainerUploadArgs] | None:
    """A container primary with replicas reads its pg_hba.conf from an uploaded file."""
    if not server.streams_to_containers:
        return None
    if replicas_network is None:
        raise ValueError(f"server {server.name}: container replicas need the Docker network's subnet")
    content = pulumi.Output.from_input(replicas_network).apply(render_hba)
    return [docker.ContainerUploadArgs(file=HBA_FILE, content=content)]


def _published(ports: list[docker.outputs.ContainerPort] | None) -> docker.outputs.ContainerPort:
    if not ports:
        raise ValueError("the database container publishes no port")
    return ports[0]


class _DatabaseServer(pulumi.ComponentResource):
    """What both engines share: the admin password, the container and its volume, the endpoint."""

    admin_password: pulumi.Output[str]
    container: docker.Container | None = None
    """Container mode: the server's container."""
    provider_host: pulumi.Output[str]
    provider_port: pulumi.Output[int]

    def __init__(self, type_name: str, name: str, args: ServerArgs, opts: pulumi.ResourceOptions | None) -> None:
        self._data_volume: docker.Volume | None = None
        with_data = pulumi.ResourceOptions(transformations=[self._goes_with_the_data])
        super().__init__(f"{TYPE_PREFIX}:{type_name}", name, None, pulumi.ResourceOptions.merge(opts, with_data))
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
            name=data_volume_name(args.container_name, server.data),
            opts=child(self, protect=args.protect, retain_on_delete=args.protect),
        )
        # Only where the volume really goes with the server (unprotected, not retained): with `deleted_with`, the
        # engine skips each object's DROP whenever the volume is to be deleted, even when protect then stops that
        # delete (a protected `destroy`), which would leave the objects on the server and out of the state.
        self._data_volume = None if args.protect else volume
        internal_port = server.service_port
        container = docker.Container(
            f"{name}-container",
            name=args.container_name,
            image=server.image,
            envs=_container_env(server.engine, server.admin_user, self.admin_password),
            command=_command(server),
            uploads=_uploads(server, args.replicas_network),
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
        self.container = container
        # Host and port come from the container's outputs, so the provider waits for it through data.
        self.provider_host = container.ports.apply(lambda ports: _published(ports).ip or "127.0.0.1")
        self.provider_port = container.ports.apply(lambda ports: int(_published(ports).external or 0))

    def _goes_with_the_data(
        self, args: pulumi.ResourceTransformationArgs
    ) -> pulumi.ResourceTransformationResult | None:
        """On an unprotected container server, what the server's provider creates lives and dies with the data
        volume (`deleted_with`): never dropped one by one when the volume goes (a dev `destroy`), and created anew
        when the volume is replaced (a new major on a new volume, topology/upgrades.py). Passwords are kept."""
        if self._data_volume is None or not args.type_.startswith(_IN_THE_DATA):
            return None
        return pulumi.ResourceTransformationResult(
            args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(deleted_with=self._data_volume))
        )


class PostgresServer(_DatabaseServer):
    """A PostgreSQL server, its `postgresql.Provider` and its layout: roles, then the database, its
    schemas and what each schema grants (in that order: members name their groups, schemas their owners)."""

    provider: postgresql.Provider
    layout: ServerLayout
    roles: dict[str, DatabaseRole]
    """Role name -> its component: login, owner and group roles."""
    database: PostgresDatabase
    schemas: dict[str, ServiceSchema]
    """Schema name -> its component."""
    replicas: list[PostgresReplica]
    """Container mode: its read replicas."""
    database_provider: postgresql.Provider
    """A provider connected to the layout's database: the server's own where it is connected there,
    else a second one (`ServerArgs.database_provider`); the server's own when not asked for."""

    def __init__(self, name: str, args: ServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("PostgresServer", name, args, opts)
        # An unprotected container server goes whole (its volume with it): what is in it need not fail to go.
        self._disposable = args.server.mode is Mode.CONTAINER and not args.protect
        server = args.server
        self.layout = args.layout
        connects_to = server.database if server.adopt_database else "postgres"
        self.provider = self._admin_provider(f"{name}-provider", connects_to)
        self.roles = self._roles(name, args)
        owner = self.roles[server.database_owner].name if server.database_owner else None
        self.database = PostgresDatabase(
            f"{name}-{server.database}",
            DatabaseArgs(
                server=server,
                provider=self.provider,
                owner=owner,
                protect=args.protect,
                after=[role.resource for role in self.roles.values()] if self._disposable else [],
            ),
            opts=moved_from_root(self),
        )
        # One chain for every grant on the server, whatever the admin (components/ordering.py: concurrent
        # grants deadlock in the provider's pgLockRole, 40P01, with a superuser admin too).
        self._server_grants = SchemaGrants()
        self.schemas = {schema.name: self._schema(name, schema, args.protect) for schema in self.layout.schemas}
        self.replicas = self._replicas(args) if server.streams_to_containers else []
        self.database_provider = self.provider
        if args.database_provider and not server.adopt_database:
            self.database_provider = self._admin_provider(f"{name}-{server.database}-provider", self.database.name)
        self.register_outputs({"host": self.provider_host, "port": self.provider_port})

    @property
    def admin_endpoint(self) -> AdminEndpoint:
        """Where the server's SQL scripts connect: its admin, as its providers do."""
        server = self.layout.server
        return AdminEndpoint(
            host=self.provider_host,
            port=self.provider_port,
            user=server.admin_user,
            password=self.admin_password,
            sslmode=server.sslmode or "disable",
            sslrootcert=server.sslrootcert,
        )

    def _admin_provider(self, name: str, database: pulumi.Input[str]) -> postgresql.Provider:
        """A provider connected as the admin to `database` (a child of the server)."""
        server = self.layout.server
        return postgresql.Provider(
            name,
            host=self.provider_host,
            port=self.provider_port,
            username=server.admin_user,
            password=self.admin_password,
            database=database,
            sslmode=server.sslmode or "disable",
            sslrootcert=server.sslrootcert,
            superuser=server.superuser,
            connect_timeout=30,
            max_connections=PROVIDER_MAX_CONNECTIONS,
            opts=child(self),
        )

    def _replicas(self, args: ServerArgs) -> list[PostgresReplica]:
        assert self.container is not None and args.network is not None
        replicator = self.roles[REPLICATOR]
        assert replicator.password is not None
        return [
            PostgresReplica(
                replica.name,
                PostgresReplicaArgs(
                    replica=replica,
                    server=args.server,
                    provider=self.provider,
                    replicator_password=replicator.password,
                    container_name=f"{args.container_name}-replica-{i}",
                    network=args.network,
                    depends_on=[self.container, replicator.resource],
                    protect=args.protect,
                ),
                opts=child(self),
            )
            for i, replica in enumerate(args.server.replicas, start=1)
        ]

    def _roles(self, name: str, args: ServerArgs) -> dict[str, DatabaseRole]:
        # Group roles first: each login role names its groups in its own `roles` (its only memberships).
        layout = args.layout
        # One key per server, from which each login role's SCRAM salt derives (a random salt per role was one more
        # resource per service, and each RandomPassword computes a bcrypt hash nobody reads).
        salt_key = random.RandomBytes(f"{name}-scram-salt-key", length=32, opts=child(self))
        groups = {
            group.name: DatabaseRole(
                f"{name}-{group.name}",
                DatabaseRoleArgs(role=layout.role(group.name), provider=self.provider, disposable=self._disposable),
                opts=moved_from(self, f"{TYPE_PREFIX}:AccessGroup", f"{name}-{group.name}"),
            )
            for group in layout.groups
        }
        members = {
            role.name: DatabaseRole(
                f"{name}-{role.name}",
                DatabaseRoleArgs(
                    role=role,
                    provider=self.provider,
                    protect=args.protect,
                    groups=[groups[g.name].name for g in layout.groups_of(role.name)],
                    adopt=role.name in layout.server.adopt_roles,
                    salt_key=pulumi.Output.secret(salt_key.base64),
                    disposable=self._disposable,
                ),
                opts=moved_from_root(self),
            )
            for role in layout.roles
            if role.name not in groups
        }
        return {**groups, **members}

    def _schema(self, name: str, schema: Schema, protect: bool) -> ServiceSchema:
        created = ServiceSchema(
            f"{name}-{schema.name}",
            ServiceSchemaArgs(
                schema=schema,
                provider=self.provider,
                database=self.database.name,
                owner=self.roles[schema.owner].name,
                protect=protect,
                grants=self._server_grants,
                disposable=self._disposable,
            ),
            opts=moved_from_root(self.database),
        )
        if schema.name == AUDIT_SCHEMA:
            AuditLog(
                f"{name}-audit-log",
                AuditLogArgs(
                    schema=schema.name,
                    owner=schema.owner,
                    admin=self.admin_endpoint,
                    database=self.database.name,
                    grants=created.grants,
                    owner_role=self.roles[schema.owner],
                    protect=protect,
                ),
                opts=moved_from_root(created),
            )
        for group in self.layout.groups_on(schema.name):
            AccessGroup(
                f"{name}-{group.name}",
                AccessGroupArgs(
                    group=group,
                    role=self.roles[group.name].name,
                    creator=self.roles[group.creator].name,
                    database=self.database.name,
                    schema=created.name,
                    grants=created.grants,
                    provider=self.provider,
                ),
                opts=moved_from_root(created),
            )
        return created

    def ready_for(self, role: str) -> list[pulumi.Resource]:
        """What a service logging in as `role` waits for: the role (it holds its memberships), and the
        last grant on each schema it has access to."""
        schemas = dict.fromkeys(cell.schema for cell in self.layout.access if cell.role == role)
        return [self.roles[role].resource, *(self.schemas[schema].grants.last for schema in schemas)]


class MysqlServer(_DatabaseServer):
    """A MySQL server, its `mysql.Provider`, its databases with their users, and its backup users."""

    provider: mysql.Provider
    databases: list[SchedulerDatabase]
    """One per user of the layout (each user has all privileges on its own database)."""
    backup_users: list[MysqlBackupUser]
    passwords: dict[str, pulumi.Output[str]]
    """User name -> its generated password (secret)."""

    def __init__(self, name: str, args: ServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("MysqlServer", name, args, opts)
        server = args.server
        tls = {"require": "skip-verify", "verify-ca": "true", "verify-full": "true"}.get(server.sslmode or "", "false")
        # The backup users require TLS where the stack's own connection to the server does. The scheduler's
        # user cannot: EasyAppointments 1.5.0 connects with CodeIgniter's mysqli driver and `encrypt` unset,
        # and no env setting turns TLS on (topology.config.scheduler_tls_warnings says so at preview).
        tls_option = None if tls == "false" else "SSL"
        self.provider = mysql.Provider(
            f"{name}-provider",
            endpoint=pulumi.Output.concat(self.provider_host, ":", self.provider_port.apply(str)),
            username=server.admin_user,
            password=self.admin_password,
            tls=tls,
            opts=child(self),
        )
        self.databases = [
            SchedulerDatabase(
                f"{name}-{user.database}",
                SchedulerDatabaseArgs(
                    user=user,
                    provider=self.provider,
                    protect=args.protect,
                    character_set=server.character_set,
                    collation=server.collation,
                    adopt=server.import_database,
                ),
                opts=moved_from_root(self),
            )
            for user in args.layout.users
        ]
        self.passwords = {
            user.name: database.password for user, database in zip(args.layout.users, self.databases, strict=True)
        }
        databases = {user.database: database for user, database in zip(args.layout.users, self.databases, strict=True)}
        self.backup_users = []
        for job in args.backups:
            backup_user = MysqlBackupUser(
                f"{name}-{job.login}",
                MysqlBackupUserArgs(
                    user=job.login,
                    database=databases[job.database].database,
                    provider=self.provider,
                    tls_option=tls_option,
                ),
                opts=moved_from_root(self),
            )
            self.backup_users.append(backup_user)
            self.passwords[job.login] = backup_user.password
        self.register_outputs({"host": self.provider_host, "port": self.provider_port})
