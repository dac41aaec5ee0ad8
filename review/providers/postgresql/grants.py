"""postgresql:Grant and postgresql:DefaultPrivileges: `postgresql/resource_postgresql_grant.go` and
`postgresql/resource_postgresql_default_privileges.go` at ff936b9."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resource_types import (
    PG_DEFAULT_PRIVILEGES,
    PG_GRANT,
)
from review.capture.program import Resource
from review.providers.core import (
    REQUIRED,
    Lifecycle,
    ServerContext,
    UnsupportedResourceError,
    named_database,
    set_order,
    strings_of,
    text_of,
    unsupported,
    value_of,
)
from review.providers.postgresql.helpers import locked, with_roles_granted
from topology.sql import quote_ident

# postgresql:Grant -- resource_postgresql_grant.go -----------------------------------------------

_GRANT_PRIVILEGES = {
    # helpers.go allowedPrivileges (MAINTAIN on tables only from PostgreSQL 17: not modelled)
    "database": {"ALL", "CREATE", "CONNECT", "TEMPORARY"},
    "schema": {"ALL", "CREATE", "USAGE"},
    "table": {"ALL", "SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"},
    "sequence": {"ALL", "USAGE", "SELECT", "UPDATE"},
    "function": {"ALL", "EXECUTE"},
    "procedure": {"ALL", "EXECUTE"},
    "routine": {"ALL", "EXECUTE"},
}


def _check_grant(resource: Resource, inputs: Mapping[str, Any]) -> None:
    """resourcePostgreSQLGrantCreateOrUpdate's validation, for the object types modelled."""
    object_type = text_of(inputs, "objectType")
    allowed = _GRANT_PRIVILEGES.get(object_type)
    if allowed is None:
        raise unsupported(resource, "objectType", object_type)
    for privilege in strings_of(inputs, "privileges"):
        if privilege not in allowed:
            raise unsupported(resource, "privileges", privilege)
    if object_type in ("database", "schema") and strings_of(inputs, "objects"):
        raise unsupported(resource, "objects", strings_of(inputs, "objects"))
    if object_type != "database" and not text_of(inputs, "schema"):
        raise UnsupportedResourceError(f"{resource.name}: input `schema` is required for {object_type} grants")


def _qualified_list(schema: str, objects: list[str]) -> str:
    """helpers.go setToPgIdentList (quoteIdentifyIdent keeps a routine's `(args)` unquoted)."""
    parts = []
    for name in set_order(objects):
        base, parenthesis, arguments = name.partition("(")
        parts.append(f"{quote_ident(schema)}.{quote_ident(base)}{parenthesis}{arguments}")
    return ",".join(parts)


def _grant_revoke_query(inputs: Mapping[str, Any]) -> str:
    """createRevokeQuery."""
    object_type = text_of(inputs, "objectType")
    role = quote_ident(text_of(inputs, "role"))
    if object_type == "database":
        return f"REVOKE ALL PRIVILEGES ON DATABASE {quote_ident(text_of(inputs, 'database'))} FROM {role}"
    schema = text_of(inputs, "schema")
    if object_type == "schema":
        return f"REVOKE ALL PRIVILEGES ON SCHEMA {quote_ident(schema)} FROM {role}"
    objects, privileges = strings_of(inputs, "objects"), strings_of(inputs, "privileges")
    keyword = object_type.upper()
    if objects:
        revoked = ",".join(set_order(privileges)) if privileges else "ALL PRIVILEGES"
        return f"REVOKE {revoked} ON {keyword} {_qualified_list(schema, objects)} FROM {role}"
    return f"REVOKE ALL PRIVILEGES ON ALL {keyword}S IN SCHEMA {quote_ident(schema)} FROM {role}"


def _grant_query(inputs: Mapping[str, Any]) -> list[str]:
    """grantRolePrivileges / createGrantQuery: nothing when `privileges` is empty."""
    privileges = set_order(strings_of(inputs, "privileges"))
    if not privileges:
        return []
    object_type = text_of(inputs, "objectType")
    role = quote_ident(text_of(inputs, "role"))
    listed = ",".join(privileges)
    schema = text_of(inputs, "schema")
    objects = strings_of(inputs, "objects")
    if object_type == "database":
        target = f"DATABASE {quote_ident(text_of(inputs, 'database'))}"
    elif object_type == "schema":
        target = f"SCHEMA {quote_ident(schema)}"
    elif objects:
        target = f"{object_type.upper()} {_qualified_list(schema, objects)}"
    else:
        target = f"ALL {object_type.upper()}S IN SCHEMA {quote_ident(schema)}"
    grant_option = " WITH GRANT OPTION" if value_of(inputs, "withGrantOption") else ""
    return [f"GRANT {listed} ON {target} TO {role}{grant_option}"]


def _grant_owners(inputs: Mapping[str, Any], ctx: ServerContext) -> list[str]:
    """getRolesToGrant: the owners of the schema's tables (not for a schema grant), then the schema's
    owner; none for a database grant."""
    object_type = text_of(inputs, "objectType")
    if object_type == "database":
        return []
    database, schema = text_of(inputs, "database"), text_of(inputs, "schema")
    owners = [] if object_type == "schema" else list(ctx.table_owners.get((database, schema), ()))
    owner = ctx.owner_of_schema(database, schema)
    if owner not in owners:
        owners.append(owner)
    return owners


def _grant_locks(inputs: Mapping[str, Any]) -> int:
    """pgLockRole(role), and pgLockDatabase(database) for a database grant."""
    return 2 if text_of(inputs, "objectType") == "database" else 1


def _grant_create(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLGrantCreateOrUpdate: the locks, then revoke and grant inside withRolesGranted(owners)."""
    _check_grant(resource, inputs)
    body = with_roles_granted(ctx, _grant_owners(inputs, ctx), [_grant_revoke_query(inputs), *_grant_query(inputs)])
    return locked(body, _grant_locks(inputs))


def _grant_update(resource: Resource, old: dict[str, Any], new: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLGrantCreateOrUpdate(usePrevious): the revoke uses the old `privileges`
    (every other input forces a replacement)."""
    _check_grant(resource, new)
    previous = {**new, "privileges": old["privileges"]}
    body = with_roles_granted(ctx, _grant_owners(new, ctx), [_grant_revoke_query(previous), *_grant_query(new)])
    return locked(body, _grant_locks(new))


def _grant_delete(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLGrantDelete: the locks, then the revoke alone inside withRolesGranted(owners)."""
    _check_grant(resource, inputs)
    body = with_roles_granted(ctx, _grant_owners(inputs, ctx), [_grant_revoke_query(inputs)])
    return locked(body, _grant_locks(inputs))


# postgresql:DefaultPrivileges -- resource_postgresql_default_privileges.go ----------------------

_DEFAULT_PRIVILEGE_TYPES = {
    "table": _GRANT_PRIVILEGES["table"],
    "sequence": _GRANT_PRIVILEGES["sequence"],
    "function": _GRANT_PRIVILEGES["function"],
    "routine": _GRANT_PRIVILEGES["routine"],
    "type": {"ALL", "USAGE"},
}


def _default_privileges_scope(inputs: Mapping[str, Any]) -> str:
    """`FOR ROLE owner IN SCHEMA s`; without a schema the provider leaves two spaces."""
    schema = text_of(inputs, "schema")
    in_schema = f"IN SCHEMA {quote_ident(schema)}" if schema else ""
    return f"FOR ROLE {quote_ident(text_of(inputs, 'owner'))} {in_schema}"


def _default_privileges_statements(resource: Resource, inputs: Mapping[str, Any], grant: bool) -> list[str]:
    object_type = text_of(inputs, "objectType")
    allowed = _DEFAULT_PRIVILEGE_TYPES.get(object_type)
    if allowed is None:
        raise unsupported(resource, "objectType", object_type)
    privileges = set_order(strings_of(inputs, "privileges"))
    for privilege in privileges:
        if privilege not in allowed:
            raise unsupported(resource, "privileges", privilege)
    role = quote_ident(text_of(inputs, "role"))
    if value_of(inputs, "withGrantOption") and text_of(inputs, "role").lower() == "public":
        raise unsupported(resource, "withGrantOption", True)
    scope, objects = _default_privileges_scope(inputs), object_type.upper() + "S"
    # revokeRoleDefaultPrivileges
    statements = [f"ALTER DEFAULT PRIVILEGES {scope} REVOKE ALL ON {objects} FROM {role}"]
    if grant and privileges:  # grantRoleDefaultPrivileges
        grant_option = " WITH GRANT OPTION" if value_of(inputs, "withGrantOption") else ""
        statements.append(
            f"ALTER DEFAULT PRIVILEGES {scope} GRANT {','.join(privileges)} ON {objects} TO {role}{grant_option}"
        )
    return statements


def _default_privileges_create(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLDefaultPrivilegesCreate (also its Update): pgLockRole(owner), then revoke
    all and grant inside withRolesGranted([owner])."""
    body = _default_privileges_statements(resource, inputs, grant=True)
    return locked(with_roles_granted(ctx, [text_of(inputs, "owner")], body))


def _default_privileges_update(
    resource: Resource, _old: dict[str, Any], new: dict[str, Any], ctx: ServerContext
) -> list[str]:
    return _default_privileges_create(resource, new, ctx)


def _default_privileges_delete(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLDefaultPrivilegesDelete: pgLockRole(owner), then the revoke inside
    withRolesGranted([owner])."""
    body = _default_privileges_statements(resource, inputs, grant=False)
    return locked(with_roles_granted(ctx, [text_of(inputs, "owner")], body))


KNOWN_INPUTS: dict[str, dict[str, Any]] = {
    # resource_postgresql_grant.go resourcePostgreSQLGrant
    PG_GRANT: {
        "role": REQUIRED, "database": REQUIRED, "schema": "", "objectType": REQUIRED, "objects": [],
        "privileges": REQUIRED, "withGrantOption": False,
    },
    # resource_postgresql_default_privileges.go resourcePostgreSQLDefaultPrivileges
    PG_DEFAULT_PRIVILEGES: {
        "role": REQUIRED, "database": REQUIRED, "owner": REQUIRED, "schema": "", "objectType": REQUIRED,
        "privileges": REQUIRED, "withGrantOption": False,
    },
}  # fmt: skip
"""Each type's inputs with its schema defaults (`REQUIRED`: none), as upstream declares them."""

LIFECYCLES: dict[str, Lifecycle] = {
    PG_GRANT: Lifecycle(
        _grant_create, _grant_update, _grant_delete,
        frozenset({"role", "database", "schema", "objectType", "objects", "columns", "withGrantOption"}),
        database=named_database,
    ),
    PG_DEFAULT_PRIVILEGES: Lifecycle(
        _default_privileges_create, _default_privileges_update, _default_privileges_delete,
        frozenset({"role", "database", "owner", "schema", "objectType", "withGrantOption"}),
        database=named_database,
    ),
}  # fmt: skip
