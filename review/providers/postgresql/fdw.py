"""postgresql:Extension, postgresql:Server and postgresql:UserMapping: `postgresql/resource_postgresql_extension.go`,
`_server.go` and `_user_mapping.go` at ff936b9, with lib/pq v1.12.3's `QuoteLiteral` (`quote.go`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from resource_types import (
    PG_EXTENSION,
    PG_FOREIGN_SERVER,
    PG_USER_MAPPING,
)
from review.capture.program import Resource, unwrap_secrets
from review.providers.core import (
    REQUIRED,
    Lifecycle,
    SecretStyle,
    ServerContext,
    has_change,
    own_provider_database,
    secret_variable,
    text_of,
    unsupported,
    value_of,
)
from topology.sql import quote_ident

# postgresql:Extension -- resource_postgresql_extension.go --------------------------------------


def _extension_database(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> str:
    """getDatabaseForExtension: `database`, else the database of the resource's provider."""
    return text_of(inputs, "database") or ctx.database_of_provider(resource.provider)


def _extension_create(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLExtensionCreate: IF NOT EXISTS (an extension installed by hand is taken over)."""
    statement = "CREATE EXTENSION IF NOT EXISTS " + quote_ident(text_of(inputs, "name"))
    if text_of(inputs, "schema"):
        statement += " SCHEMA " + quote_ident(text_of(inputs, "schema"))
    if text_of(inputs, "version"):
        statement += " VERSION " + quote_ident(text_of(inputs, "version"))  # an identifier, as upstream quotes it
    if value_of(inputs, "createCascade"):
        statement += " CASCADE"
    return [statement]


def _extension_update(resource: Resource, old: dict[str, Any], new: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLExtensionUpdate: setExtSchema, then setExtVersion, each when changed."""
    name = quote_ident(text_of(new, "name"))
    statements = []
    if has_change(old, new, "schema"):
        if not text_of(new, "schema"):
            raise unsupported(resource, "schema", "")  # "error setting extension name to an empty string"
        statements.append(f"ALTER EXTENSION {name} SET SCHEMA {quote_ident(text_of(new, 'schema'))}")
    if has_change(old, new, "version"):
        version = text_of(new, "version")
        statements.append(f"ALTER EXTENSION {name} UPDATE" + (f" TO {quote_ident(version)}" if version else ""))
    return statements


def _extension_delete(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLExtensionDelete: RESTRICT unless `dropCascade`."""
    mode = "CASCADE" if value_of(inputs, "dropCascade") else "RESTRICT"
    return [f"DROP EXTENSION {quote_ident(text_of(inputs, 'name'))} {mode} "]


# postgresql:Server and postgresql:UserMapping -- resource_postgresql_server.go, _user_mapping.go --


def _pq_literal(value: str) -> str:
    """lib/pq v1.12.3 QuoteLiteral (quote.go): quotes doubled; with a backslash, doubled and ` E'...'`."""
    value = value.replace("'", "''")
    if "\\" in value:
        return " E'" + value.replace("\\", "\\\\") + "'"
    return "'" + value + "'"


def _options(inputs: Mapping[str, Any]) -> dict[str, str]:
    """The `options` map. Go ranges over a map in random order: the model sorts the keys, where the
    provider sends them in any order."""
    return {str(k): str(v) for k, v in sorted((unwrap_secrets(inputs.get("options")) or {}).items())}


_Literal = Callable[[str, str], str]


def _plain_literal(_key: str, value: str) -> str:
    return _pq_literal(value)


def _mapping_literal(resource: Resource, ctx: ServerContext) -> _Literal:
    """A mapping's option literals: its `password` as the context shows passwords."""

    def literal(key: str, value: str) -> str:
        if key != "password":
            return _pq_literal(value)
        if ctx.secrets is SecretStyle.VARIABLES:
            return f":'{secret_variable(ctx.server, resource)}'"
        return _pq_literal(ctx.secret_values.get(resource.urn) or value)

    return literal


def _options_clause(options: Mapping[str, str], literal: _Literal) -> str:
    """` OPTIONS ( ` then ` "key" 'value'` per option, `, `-separated, then ` ) ` (upstream's spacing)."""
    if not options:
        return ""
    return " OPTIONS ( " + ", ".join(f" {quote_ident(k)} {literal(k, v)}" for k, v in options.items()) + " ) "


def _alter_options(old: Mapping[str, str], new: Mapping[str, str], literal: _Literal) -> str:
    """setServerVersionOptionsIfChanged / setUserMappingOptionsIfChanged: ADD or SET each new option,
    DROP each removed one."""
    parts = [f" {'SET' if k in old else 'ADD'} {quote_ident(k)} {literal(k, v)} " for k, v in new.items()]
    clause = " OPTIONS ( " + ", ".join(parts)
    for count, key in enumerate(k for k in old if k not in new):
        if parts or count:
            clause += " , "
        clause += f" DROP {quote_ident(key)} "
    return clause + " ) "


def _server_create(_resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLServerCreate: in one transaction on the provider's database; the owner set
    after when it is given and is not the admin."""
    statement = "CREATE SERVER " + quote_ident(text_of(inputs, "serverName"))
    if text_of(inputs, "serverType"):
        statement += " TYPE " + _pq_literal(text_of(inputs, "serverType"))
    if text_of(inputs, "serverVersion"):
        statement += " VERSION " + _pq_literal(text_of(inputs, "serverVersion"))
    statement += " FOREIGN DATA WRAPPER " + quote_ident(text_of(inputs, "fdwName"))
    statements = [statement + _options_clause(_options(inputs), _plain_literal)]
    owner = text_of(inputs, "serverOwner")
    if owner and owner != ctx.admin_user:
        statements.append(f"ALTER SERVER {quote_ident(text_of(inputs, 'serverName'))} OWNER TO {quote_ident(owner)}")
    return statements


def _server_update(_resource: Resource, old: dict[str, Any], new: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLServerUpdate: rename, owner, then version and options, each when changed."""
    name = quote_ident(text_of(new, "serverName"))
    statements = []
    if has_change(old, new, "serverName"):
        statements.append(f"ALTER SERVER {quote_ident(text_of(old, 'serverName'))} RENAME TO {name}")
    if has_change(old, new, "serverOwner"):
        statements.append(f"ALTER SERVER {name} OWNER TO {quote_ident(text_of(new, 'serverOwner'))}")
    if has_change(old, new, "serverVersion") or has_change(old, new, "options"):
        statement = f"ALTER SERVER {name} "
        if has_change(old, new, "serverVersion"):
            statement += f"VERSION {_pq_literal(text_of(new, 'serverVersion'))}"
        if has_change(old, new, "options"):
            statement += _alter_options(_options(old), _options(new), _plain_literal)
        statements.append(statement)
    return statements


def _server_delete(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLServerDelete: RESTRICT unless `dropCascade` (CASCADE also drops its user
    mappings and foreign tables)."""
    mode = "CASCADE" if value_of(inputs, "dropCascade") else "RESTRICT"
    return [f"DROP SERVER {quote_ident(text_of(inputs, 'serverName'))} {mode} "]


def _mapping_target(inputs: Mapping[str, Any]) -> str:
    return f"FOR {quote_ident(text_of(inputs, 'userName'))} SERVER {quote_ident(text_of(inputs, 'serverName'))}"


def _user_mapping_create(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLUserMappingCreate: db.Exec, no transaction, on the provider's database."""
    options = _options_clause(_options(inputs), _mapping_literal(resource, ctx))
    return ["CREATE USER MAPPING  " + _mapping_target(inputs) + options]


def _user_mapping_update(resource: Resource, old: dict[str, Any], new: dict[str, Any], ctx: ServerContext) -> list[str]:
    """setUserMappingOptionsIfChanged (user and server are ForceNew)."""
    if not has_change(old, new, "options"):
        return []
    options = _alter_options(_options(old), _options(new), _mapping_literal(resource, ctx))
    return [f"ALTER USER MAPPING  {_mapping_target(new)} " + options]


def _user_mapping_delete(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLUserMappingDelete: in a transaction."""
    return [f"DROP USER MAPPING {_mapping_target(inputs)} "]


KNOWN_INPUTS: dict[str, dict[str, Any]] = {
    # resource_postgresql_extension.go resourcePostgreSQLExtension
    PG_EXTENSION: {
        "name": REQUIRED, "schema": "", "version": "", "database": "", "dropCascade": False, "createCascade": False,
    },
    # resource_postgresql_server.go resourcePostgreSQLServer
    PG_FOREIGN_SERVER: {
        "serverName": REQUIRED, "serverType": "", "serverVersion": "", "fdwName": REQUIRED, "serverOwner": "",
        "options": {}, "dropCascade": False,
    },
    # resource_postgresql_user_mapping.go resourcePostgreSQLUserMapping
    PG_USER_MAPPING: {"userName": REQUIRED, "serverName": REQUIRED, "options": {}},
}  # fmt: skip
"""Each type's inputs with its schema defaults (`REQUIRED`: none), as upstream declares them."""

LIFECYCLES: dict[str, Lifecycle] = {
    PG_EXTENSION: Lifecycle(
        _extension_create, _extension_update, _extension_delete, frozenset({"name", "database"}),
        database=_extension_database,
    ),
    PG_FOREIGN_SERVER: Lifecycle(
        _server_create, _server_update, _server_delete, frozenset({"serverType", "fdwName"}),
        database=own_provider_database,
    ),
    # Create and Update run `db.Exec` (no transaction), Delete a transaction.
    PG_USER_MAPPING: Lifecycle(
        _user_mapping_create, _user_mapping_update, _user_mapping_delete, frozenset({"userName", "serverName"}),
        transaction=False, database=own_provider_database, delete_transaction=True,
    ),
}  # fmt: skip
