"""postgresql:Role and postgresql:GrantRole: `postgresql/resource_postgresql_role.go` and
`postgresql/resource_postgresql_grant_role.go` at ff936b9."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resource_types import (
    PG_GRANT_ROLE,
    PG_ROLE,
)
from review.capture.program import Resource, unwrap_secrets
from review.providers.core import (
    REQUIRED,
    Lifecycle,
    ServerContext,
    has_change,
    set_order,
    strings_of,
    text_of,
    unsupported,
    value_of,
)
from review.providers.postgresql.helpers import locked, pg_literal, with_roles_granted
from topology.sql import quote_ident

# postgresql:Role -- resource_postgresql_role.go -------------------------------------------------

_ROLE_FLAGS = (
    # resourcePostgreSQLRoleCreate boolOpts, in its order (BYPASSRLS, REPLICATION: featureRLS/featureReplication)
    ("superuser", "SUPERUSER"),
    ("createDatabase", "CREATEDB"),
    ("createRole", "CREATEROLE"),
    ("inherit", "INHERIT"),
    ("login", "LOGIN"),
    ("bypassRowLevelSecurity", "BYPASSRLS"),
    ("replication", "REPLICATION"),
)


def _role_password(resource: Resource, inputs: Mapping[str, Any]) -> str:
    password = str(unwrap_secrets(inputs["password"]))
    if password.upper() == "NULL":
        raise unsupported(resource, "password", "NULL")
    return password


def _valid_until(value: str) -> str:
    return "'infinity'" if value == "" or value.lower() == "infinity" else pg_literal(value)


def _search_path(role: str, inputs: Mapping[str, Any], resource: Resource) -> str:
    """alterSearchPath: always run, `DEFAULT` when empty."""
    parts = strings_of(inputs, "searchPaths")
    if any(", " in part for part in parts):
        raise unsupported(resource, "searchPaths", parts)
    path = ", ".join(quote_ident(part) for part in parts) if parts else "DEFAULT"
    return f"ALTER ROLE {role} SET search_path TO {path}"


def _grant_roles(role: str, inputs: Mapping[str, Any]) -> list[str]:
    """grantRoles: one GRANT per element of the `roles` set, in set order."""
    return [f"GRANT {quote_ident(group)} TO {role}" for group in set_order(strings_of(inputs, "roles"))]


def _role_create(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLRoleCreate: a plain CREATE ROLE (fails if the role exists), then grantRoles,
    alterSearchPath; statement_timeout etc. are not modelled inputs."""
    options: list[str] = []
    if text_of(inputs, "password"):
        _role_password(resource, inputs)
        options.append("ENCRYPTED" if value_of(inputs, "encryptedPassword") else "UNENCRYPTED")
        options.append(f"PASSWORD {ctx.password_sql(resource, inputs['password'])}")
    options.append(f"VALID UNTIL {_valid_until(text_of(inputs, 'validUntil'))}")
    options.append(f"CONNECTION LIMIT {int(value_of(inputs, 'connectionLimit'))}")
    options += [keyword if value_of(inputs, key) else "NO" + keyword for key, keyword in _ROLE_FLAGS]
    role = quote_ident(text_of(inputs, "name"))
    return [
        f"CREATE ROLE {role} WITH {' '.join(options)}",
        *_grant_roles(role, inputs),
        _search_path(role, inputs, resource),
    ]


def _role_update(resource: Resource, old: dict[str, Any], new: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLRoleUpdate: the attributes that changed, then revokeRoles (EVERY membership
    the role holds on the server), grantRoles (its `roles` only) and alterSearchPath, always."""
    statements: list[str] = []
    old_name, name = text_of(old, "name"), text_of(new, "name")
    role = quote_ident(name)
    if old_name != name:  # setRoleName
        statements.append(f"ALTER ROLE {quote_ident(old_name)} RENAME TO {role}")
    if (has_change(old, new, "password") or old_name != name) and text_of(new, "password"):  # setRolePassword
        _role_password(resource, new)
        statements.append(f"ALTER ROLE {role} PASSWORD {ctx.password_sql(resource, new['password'])}")
    # setRoleBypassRLS, setRoleConnLimit, setRoleCreateDB, setRoleCreateRole, setRoleInherit,
    # setRoleLogin, setRoleReplication, setRoleSuperuser, setRoleValidUntil, in that order
    for key, keyword in (
        ("bypassRowLevelSecurity", "BYPASSRLS"),
        ("connectionLimit", None),
        ("createDatabase", "CREATEDB"),
        ("createRole", "CREATEROLE"),
        ("inherit", "INHERIT"),
        ("login", "LOGIN"),
        ("replication", "REPLICATION"),
        ("superuser", "SUPERUSER"),
        ("validUntil", None),
    ):
        if not has_change(old, new, key):
            continue
        if key == "connectionLimit":
            statements.append(f"ALTER ROLE {role} CONNECTION LIMIT {int(value_of(new, key))}")
        elif key == "validUntil":
            if text_of(new, key):
                statements.append(f"ALTER ROLE {role} VALID UNTIL {_valid_until(text_of(new, key))}")
        else:
            assert keyword is not None
            statements.append(f"ALTER ROLE {role} WITH {keyword if value_of(new, key) else 'NO' + keyword}")
    # revokeRoles: what pg_auth_members holds for the role, whoever granted it
    statements += [f"REVOKE {quote_ident(group)} FROM {role}" for group in ctx.memberships.get(old_name, ())]
    statements += _grant_roles(role, new)
    statements.append(_search_path(role, new, resource))
    return locked(statements)  # pgLockRole(oldName) first


def _role_delete(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLRoleDelete: pgLockRole, then unless skipReassignOwned, REASSIGN OWNED BY the
    role TO the admin and DROP OWNED BY it (in the provider's database only, inside withRolesGranted);
    then DROP ROLE unless skipDropRole. A role that still owns objects elsewhere makes DROP ROLE fail."""
    role = quote_ident(text_of(inputs, "name"))
    statements: list[str] = []
    if not value_of(inputs, "skipReassignOwned"):
        body = [f"REASSIGN OWNED BY {role} TO {quote_ident(ctx.admin_user)}", f"DROP OWNED BY {role}"]
        statements += with_roles_granted(ctx, [text_of(inputs, "name")], body)
    if not value_of(inputs, "skipDropRole"):
        statements.append(f"DROP ROLE {role}")
    return locked(statements)


# postgresql:GrantRole -- resource_postgresql_grant_role.go --------------------------------------


def _grant_role_revoke(inputs: Mapping[str, Any]) -> str:
    """createRevokeRoleQuery."""
    return f"REVOKE {quote_ident(text_of(inputs, 'grantRole'))} FROM {quote_ident(text_of(inputs, 'role'))}"


def _grant_role_create(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLGrantRoleCreate: revoke, then grant (createGrantRoleQuery)."""
    admin_option = " WITH ADMIN OPTION" if value_of(inputs, "withAdminOption") else ""
    grant = f"GRANT {quote_ident(text_of(inputs, 'grantRole'))} TO {quote_ident(text_of(inputs, 'role'))}{admin_option}"
    return [_grant_role_revoke(inputs), grant]


def _grant_role_delete(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLGrantRoleDelete."""
    return [_grant_role_revoke(inputs)]


KNOWN_INPUTS: dict[str, dict[str, Any]] = {
    # resource_postgresql_role.go resourcePostgreSQLRole (schema defaults)
    PG_ROLE: {
        "name": REQUIRED, "password": "", "login": False, "inherit": True, "superuser": False,
        "createRole": False, "createDatabase": False, "replication": False, "bypassRowLevelSecurity": False,
        "roles": [], "searchPaths": [], "skipReassignOwned": False, "skipDropRole": False,
        "connectionLimit": -1, "validUntil": "infinity", "encryptedPassword": True,
    },
    # resource_postgresql_grant_role.go resourcePostgreSQLGrantRole
    PG_GRANT_ROLE: {"role": REQUIRED, "grantRole": REQUIRED, "withAdminOption": False},
}  # fmt: skip
"""Each type's inputs with its schema defaults (`REQUIRED`: none), as upstream declares them."""

LIFECYCLES: dict[str, Lifecycle] = {
    PG_ROLE: Lifecycle(_role_create, _role_update, _role_delete, frozenset()),
    PG_GRANT_ROLE: Lifecycle(
        _grant_role_create, None, _grant_role_delete, frozenset({"role", "grantRole", "withAdminOption"})
    ),
}  # fmt: skip
