"""postgresql:Schema and postgresql:Database: `postgresql/resource_postgresql_schema.go` and
`postgresql/resource_postgresql_database.go` at ff936b9."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resource_types import (
    PG_DATABASE,
    PG_SCHEMA,
)
from review.capture.program import Resource
from review.providers.core import REQUIRED, Lifecycle, ServerContext, has_change, text_of, unsupported, value_of
from review.providers.postgresql.helpers import if_block, owner_granted, pg_literal, schema_exists, with_roles_granted
from topology.sql import quote_ident

# postgresql:Schema -- resource_postgresql_schema.go ---------------------------------------------


def _schema_database(inputs: Mapping[str, Any], ctx: ServerContext) -> str:
    return text_of(inputs, "database") or ctx.provider_database


def _schema_create(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLSchemaCreate / createSchema: inside withRolesGranted([database owner, schema
    owner]), an existing schema only gets its owner set; otherwise CREATE SCHEMA [IF NOT EXISTS]
    ... AUTHORIZATION owner."""
    name, owner = text_of(inputs, "name"), text_of(inputs, "owner")
    schema = quote_ident(name)
    create = "CREATE SCHEMA " + ("IF NOT EXISTS " if value_of(inputs, "ifNotExists") else "") + schema
    if owner:
        create += f" AUTHORIZATION {quote_ident(owner)}"
    adopt = [f"ALTER SCHEMA {schema} OWNER TO {quote_ident(owner)}"] if owner else []  # setSchemaOwner
    database = _schema_database(inputs, ctx)
    branch: list[str]
    if ctx.existing_schemas is not None:
        branch = adopt if (database, name) in ctx.existing_schemas else [create]
    elif adopt:
        branch = [if_block(schema_exists(name), adopt, [create])]
    else:
        branch = [if_block(f"NOT {schema_exists(name)}", [create])]
    database_owner = ctx.owner_of_database(database)
    roles = [database_owner] + ([owner] if owner and owner != database_owner else [])
    return with_roles_granted(ctx, roles, branch)


def _schema_update(resource: Resource, old: dict[str, Any], new: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLSchemaUpdate: setSchemaName, setSchemaOwner -- WITHOUT withRolesGranted, so
    a non-superuser admin must already be a member of the new owner."""
    statements: list[str] = []
    old_name, name = text_of(old, "name"), text_of(new, "name")
    if old_name != name:
        statements.append(f"ALTER SCHEMA {quote_ident(old_name)} RENAME TO {quote_ident(name)}")
    if has_change(old, new, "owner"):
        if not text_of(new, "owner"):
            raise unsupported(resource, "owner", "")
        statements.append(f"ALTER SCHEMA {quote_ident(name)} OWNER TO {quote_ident(text_of(new, 'owner'))}")
    return statements


def _schema_delete(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLSchemaDelete: nothing if the schema is gone; else DROP SCHEMA ... RESTRICT
    (CASCADE only with dropCascade) inside withRolesGranted([owner])."""
    name, owner = text_of(inputs, "name"), text_of(inputs, "owner")
    if not owner and not ctx.admin_is_superuser:
        # withRolesGranted([""]) fails in isSuperuser: the provider cannot delete it either.
        raise unsupported(resource, "owner", "")
    mode = "CASCADE" if value_of(inputs, "dropCascade") else "RESTRICT"
    body = with_roles_granted(ctx, [owner], [f"DROP SCHEMA {quote_ident(name)} {mode}"])
    if ctx.existing_schemas is not None:
        return body if (_schema_database(inputs, ctx), name) in ctx.existing_schemas else []
    return [if_block(schema_exists(name), body)]


# postgresql:Database -- resource_postgresql_database.go -----------------------------------------


def _database_create(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """createDatabase: a plain CREATE DATABASE (fails if it exists), the owner granted to the admin
    around it when one is declared."""
    name, owner = text_of(inputs, "name"), text_of(inputs, "owner")
    parts = [f"CREATE DATABASE {quote_ident(name)}", f" OWNER {quote_ident(owner or ctx.admin_user)}"]
    template = text_of(inputs, "template")
    if template.upper() == "DEFAULT":
        parts.append(" TEMPLATE DEFAULT")
    else:
        parts.append(f" TEMPLATE {quote_ident(template) if template else 'template0'}")
    encoding = text_of(inputs, "encoding")
    parts.append(
        " ENCODING DEFAULT"
        if encoding.upper() == "DEFAULT"
        else f" ENCODING {pg_literal(encoding)} "
        if encoding
        else " ENCODING 'UTF8'"
    )
    for key, keyword in (("lcCollate", "LC_COLLATE"), ("lcCtype", "LC_CTYPE")):
        value = text_of(inputs, key)
        if value:
            parts.append(f" {keyword} DEFAULT" if value.upper() == "DEFAULT" else f" {keyword} {pg_literal(value)} ")
    tablespace = text_of(inputs, "tablespaceName")
    if tablespace:
        parts.append(
            " TABLESPACE DEFAULT" if tablespace.upper() == "DEFAULT" else f" TABLESPACE {quote_ident(tablespace)}"
        )
    parts.append(f" ALLOW_CONNECTIONS {'true' if value_of(inputs, 'allowConnections') else 'false'}")
    parts.append(f" CONNECTION LIMIT {int(value_of(inputs, 'connectionLimit'))}")
    parts.append(f" IS_TEMPLATE {'true' if value_of(inputs, 'isTemplate') else 'false'}")
    return owner_granted(ctx, owner, ["".join(parts)])


def _database_update(resource: Resource, old: dict[str, Any], new: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLDatabaseUpdate: setDBName, setDBOwner (owner granted around it),
    setDBTablespace, setDBConnLimit, setDBAllowConns, setDBIsTemplate -- each only if changed."""
    statements: list[str] = []
    old_name, name = text_of(old, "name"), text_of(new, "name")
    database = quote_ident(name)
    if old_name != name:
        statements.append(f"ALTER DATABASE {quote_ident(old_name)} RENAME TO {database}")
    owner = text_of(new, "owner")
    if has_change(old, new, "owner") and owner:
        statements += owner_granted(ctx, owner, [f"ALTER DATABASE {database} OWNER TO {quote_ident(owner)}"])
    if has_change(old, new, "tablespaceName"):
        tablespace = text_of(new, "tablespaceName")
        statements.append(
            f"ALTER DATABASE {database} RESET TABLESPACE"
            if not tablespace or tablespace.upper() == "DEFAULT"
            else f"ALTER DATABASE {database} SET TABLESPACE {quote_ident(tablespace)}"
        )
    if has_change(old, new, "connectionLimit"):
        statements.append(f"ALTER DATABASE {database} CONNECTION LIMIT = {int(value_of(new, 'connectionLimit'))}")
    if has_change(old, new, "allowConnections"):
        statements.append(
            f"ALTER DATABASE {database} ALLOW_CONNECTIONS {str(bool(value_of(new, 'allowConnections'))).lower()}"
        )
    if has_change(old, new, "isTemplate"):
        statements.append(f"ALTER DATABASE {database} IS_TEMPLATE {str(bool(value_of(new, 'isTemplate'))).lower()}")
    return statements


def _database_delete(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLDatabaseDelete: IS_TEMPLATE false for a template, connections blocked and
    terminated (terminateBConnections), DROP DATABASE ... WITH ( FORCE ) (PostgreSQL 13+)."""
    name = text_of(inputs, "name")
    database = quote_ident(name)
    body = [f"ALTER DATABASE {database} IS_TEMPLATE false"] if value_of(inputs, "isTemplate") else []
    body += [
        f"ALTER DATABASE {database} ALLOW_CONNECTIONS false",
        # terminateBConnections interpolates the name unescaped
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()",
        f"DROP DATABASE {database} WITH ( FORCE )",
    ]
    if "'" in name:
        raise unsupported(resource, "name", name)
    return owner_granted(ctx, text_of(inputs, "owner"), body)


KNOWN_INPUTS: dict[str, dict[str, Any]] = {
    # resource_postgresql_schema.go resourcePostgreSQLSchema
    PG_SCHEMA: {"name": REQUIRED, "database": "", "owner": "", "ifNotExists": True, "dropCascade": False},
    # resource_postgresql_database.go resourcePostgreSQLDatabase
    PG_DATABASE: {
        "name": REQUIRED, "owner": "", "template": "", "encoding": "", "lcCollate": "", "lcCtype": "",
        "tablespaceName": "", "connectionLimit": -1, "allowConnections": True, "isTemplate": False,
    },
}  # fmt: skip
"""Each type's inputs with its schema defaults (`REQUIRED`: none), as upstream declares them."""

LIFECYCLES: dict[str, Lifecycle] = {
    PG_SCHEMA: Lifecycle(
        _schema_create, _schema_update, _schema_delete, frozenset({"database"}),
        database=lambda _resource, inputs, ctx: _schema_database(inputs, ctx),
    ),
    # CREATE/DROP DATABASE run outside a transaction (db.Exec)
    PG_DATABASE: Lifecycle(
        _database_create, _database_update, _database_delete,
        frozenset({"template", "encoding", "lcCollate", "lcCtype"}), transaction=False,
    ),
}  # fmt: skip
