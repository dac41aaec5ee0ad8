"""Databases and schemas on a PostgreSQL server."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_postgresql as postgresql

from components.access import privilege_resource
from components.common import TYPE_PREFIX, child
from components.ordering import SchemaGrants
from topology.model import Schema, Server, privilege_sets


@dataclass
class DatabaseArgs:
    """Inputs of a database component."""

    server: Server
    """The server; an adopted database is only referenced, never created or dropped."""
    provider: postgresql.Provider
    """Provider of the server."""
    owner: pulumi.Input[str] | None = None
    """Owner role of a database the stack creates; None keeps the admin."""
    protect: bool = False
    """Protect the database (prod)."""
    after: list[pulumi.Resource] = field(default_factory=list)
    """What the database waits for: a disposable server's roles, so that `pulumi destroy` drops the database,
    and every table in it, before them (the provider's DROP OWNED runs in its own database only)."""


class PostgresDatabase(pulumi.ComponentResource):
    """The database the layout lives in: created in dev, adopted on existing servers."""

    name: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:PostgresDatabase", name, None, opts)
        server = args.server
        if server.adopt_database:
            self.name = pulumi.Output.from_input(server.database)
        else:
            database = postgresql.Database(
                name,
                name=server.database,
                owner=args.owner,
                template="template0",
                encoding="UTF8",
                opts=child(self, provider=args.provider, protect=args.protect, depends_on=args.after),
            )
            self.name = database.name
        self.register_outputs({"name": self.name})


@dataclass
class ServiceSchemaArgs:
    """Inputs of a service schema component."""

    schema: Schema
    """The schema as the topology describes it."""
    provider: postgresql.Provider
    """Provider of the schema's server."""
    database: pulumi.Input[str]
    """Database name (an Output of the database, so the schema waits for it)."""
    owner: pulumi.Input[str]
    """Name of the owner role (an Output of the role, so the schema waits for it)."""
    protect: bool = False
    """Protect the schema (prod)."""
    grants: SchemaGrants | None = None
    """The chain to join instead of one of the schema's own (the server's, when its admin is no superuser)."""
    disposable: bool = False
    """Its server is a container the stack does not protect: deleting the schema drops what it holds (the
    data goes with the server's volume anyway) instead of failing while it holds tables."""


class ServiceSchema(pulumi.ComponentResource):
    """A service's schema, owned by the login role that runs its migrations.

    On the existing `public` schema, PUBLIC loses every privilege (older servers and managed
    providers still grant it CREATE) and the owner role gets USAGE and CREATE instead. Everything
    that grants on the schema joins `grants`, the schema's chain.
    """

    name: pulumi.Output[str]
    grants: SchemaGrants

    def __init__(self, name: str, args: ServiceSchemaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:ServiceSchema", name, None, opts)
        schema = args.schema
        self.grants = args.grants or SchemaGrants()
        if schema.created:
            created = self.grants.add(
                postgresql.Schema(
                    name,
                    name=schema.name,
                    database=args.database,
                    owner=args.owner,
                    if_not_exists=True,
                    drop_cascade=args.disposable,
                    opts=child(self, provider=args.provider, protect=args.protect, depends_on=self.grants.depends_on()),
                )
            )
            self.name = created.name
        else:
            self.grants.add(
                postgresql.Grant(
                    f"{name}-public-revoke",
                    database=args.database,
                    schema=schema.name,
                    role="public",
                    object_type="schema",
                    privileges=[],
                    opts=child(self, provider=args.provider, depends_on=self.grants.depends_on()),
                )
            )
            (owner_privileges,) = privilege_sets(schema.owner_privileges)
            owner_grant = self.grants.add(
                privilege_resource(
                    f"{name}-owner",
                    owner_privileges,
                    database=args.database,
                    schema=schema.name,
                    role=args.owner,
                    owner=None,
                    opts=child(self, provider=args.provider, depends_on=self.grants.depends_on()),
                )
            )
            assert isinstance(owner_grant, postgresql.Grant)
            self.name = owner_grant.schema.apply(lambda value: value or schema.name)
        self.register_outputs({"name": self.name})
