"""Cross-database reads: postgres_fdw on main, reading Langflow's tables on flowdb as its read-only login."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_postgresql as postgresql

from components.common import TYPE_PREFIX, child
from components.sql_script import AdminEndpoint, SqlScript
from topology.catalog import FDW_EXTENSION
from topology.fdw import foreign_server_options, refresh_function_exists_query, refresh_function_sql
from topology.model import CrossDatabaseReads as CrossDatabaseReadsSpec


@dataclass
class CrossDatabaseReadsArgs:
    """Inputs of the cross-database reads component."""

    reads: CrossDatabaseReadsSpec
    """What the topology wants: schema, owner, readers, the remote server and its login."""
    provider: postgresql.Provider
    """A provider connected to main's layout database: the foreign server and the mappings are
    created in the provider's own database (resource_postgresql_server.go, _user_mapping.go)."""
    database: pulumi.Input[str]
    """Main's layout database (an Output of the database, so the extension waits for it)."""
    mapped_roles: dict[str, pulumi.Input[str]]
    """Role name -> an Output of its role on main (the owner and each reader), so each mapping waits for it."""
    remote_password: pulumi.Input[str]
    """The remote read-only login's password (secret): the mappings' `password` option."""
    admin: AdminEndpoint
    """Main's admin (a superuser), where the refresh function's script connects."""
    depends_on: list[pulumi.Resource]
    """What the script waits for: the schema's last grant on main, the remote login and its grants."""


class CrossDatabaseReads(pulumi.ComponentResource):
    """The postgres_fdw extension, a foreign server for flowdb, one user mapping per mapped role (all
    logging in as flowdb's read-only role), and the owner's refresh function that imports the tables.

    The foreign server drops CASCADE: its foreign tables are a view of flowdb's, rebuilt by the
    refresh function, and hold no data of their own.
    """

    def __init__(self, name: str, args: CrossDatabaseReadsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:CrossDatabaseReads", name, None, opts)
        reads = args.reads
        extension = postgresql.Extension(
            f"{name}-extension",
            name=FDW_EXTENSION,
            database=args.database,
            schema="public",
            opts=child(self, provider=args.provider),
        )
        server = postgresql.Server(
            f"{name}-server",
            server_name=reads.foreign_server,
            fdw_name=FDW_EXTENSION,
            options=foreign_server_options(reads),
            drop_cascade=True,
            opts=child(self, provider=args.provider, depends_on=[extension]),
        )
        password = pulumi.Output.secret(args.remote_password)
        mappings = [
            postgresql.UserMapping(
                f"{name}-{role}",
                user_name=args.mapped_roles[role],
                server_name=server.server_name,
                options={"user": reads.remote_role, "password": password},
                opts=child(self, provider=args.provider, additional_secret_outputs=["options"]),
            )
            for role in reads.mapped_roles
        ]
        SqlScript(
            f"{name}-refresh-function",
            args.admin.script(args.database, refresh_function_sql(reads), refresh_function_exists_query(reads)),
            opts=child(self, depends_on=[*mappings, *args.depends_on]),
        )
        self.register_outputs({"foreignServer": server.server_name})
