"""The SQL each step of a stack diff runs, on each server: the providers' create, update and delete.

`ProviderLifecycle` answers, per resource type, what the pinned providers run (each statement
names the upstream function it follows, cyrilgdn/terraform-provider-postgresql at the commit
pulumi-postgresql bridges, `postgresql/resource_postgresql_*.go`). A create runs what
`review.sql` renders for the resource. A type or operation it does not know raises
`UnsupportedResourceError` rather than guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from review.capture import Capture, Resource
from review.diff import CREATE, CREATE_REPLACEMENT, DELETE, DELETE_REPLACED, UPDATE, StackDiff, Step
from review.graph import DYNAMIC_RESOURCE, provider_of_server, server_of
from review.sql import (
    _BUILDERS,
    PG,
    SqlStep,
    UnsupportedResourceError,
    _Context,
    _dollar_quote,
    _dynamic,
    _pg_default_privileges,
    _pg_grant,
    _plain_inputs,
    _revealed,
    _runs_sql,
)
from topology.sql import quote_ident, quote_literal

ROLE = PG + "role:Role"
GRANT = PG + "grant:Grant"
DEFAULT_PRIVILEGES = PG + "defaultPrivileges:DefaultPrivileges"
SCHEMA = PG + "schema:Schema"
GRANT_ROLE = PG + "grantRole:GrantRole"
DATABASE = PG + "database:Database"

_REPLACE_KEYS: dict[str, frozenset[str]] = {
    # `ForceNew: true` in each resource's schema.
    GRANT: frozenset({"role", "database", "schema", "objectType", "objects", "columns", "withGrantOption"}),
    GRANT_ROLE: frozenset({"role", "grantRole", "withAdminOption"}),
    DEFAULT_PRIVILEGES: frozenset({"role", "database", "owner", "schema", "objectType", "withGrantOption"}),
    SCHEMA: frozenset({"database"}),
    DATABASE: frozenset({"template", "encoding", "lcCollate", "lcCtype"}),
    ROLE: frozenset(),
    # random: every input of RandomPassword forces a new value (terraform-provider-random, RequiresReplace).
    "random:index/randomPassword:RandomPassword": frozenset(
        {"length", "special", "upper", "lower", "numeric", "overrideSpecial", "keepers"}
        | {"minSpecial", "minUpper", "minLower", "minNumeric"}
    ),
    # kreuzwerker/terraform-provider-docker, resource_docker_container.go / _network.go / _volume.go:
    # of the inputs this program sets, all but `restart`, `wait` and `waitTimeout` are ForceNew.
    "docker:index/container:Container": frozenset(
        {"command", "envs", "healthcheck", "image", "name", "networksAdvanced", "ports", "volumes"}
    ),
    "docker:index/network:Network": frozenset({"driver", "name"}),
    "docker:index/volume:Volume": frozenset({"name"}),
}


@dataclass(frozen=True)
class ServerSql:
    """The SQL one step runs on one server."""

    server: str
    steps: tuple[SqlStep, ...]


class ProviderLifecycle:
    """The pinned providers' operations, as `review diff` models them."""

    def replace_keys(self, type_: str) -> frozenset[str]:
        return _REPLACE_KEYS.get(type_, frozenset())

    def sql(self, step: Step, diff: StackDiff, show_secrets: bool = False) -> ServerSql | None:
        """What `step` runs on its server, or None when it runs no SQL (components, passwords, containers)."""
        resource = step.new if step.op in (CREATE, UPDATE, CREATE_REPLACEMENT) else step.old
        assert resource is not None
        capture = diff.new if resource is step.new else diff.old
        if not _runs_sql(resource):
            return None
        server = server_of(capture, resource)
        if server is None:
            return None
        context = _context(capture, server, resource, show_secrets)
        if step.op in (CREATE, CREATE_REPLACEMENT):
            built = _BUILDERS[resource.type](context)
            steps = built if isinstance(built, list) else [built]
        elif step.op == UPDATE:
            assert step.old is not None
            steps = [_update(context, _revealed(step.old.inputs, show_secrets), step.changed)]
        else:
            steps = _delete(context)
        steps = [s for s in steps if s.statements]
        return ServerSql(server, tuple(steps)) if steps else None


def _context(capture: Capture, server: str, resource: Resource, show_secrets: bool) -> _Context:
    provider = _plain_inputs(provider_of_server(capture, server))
    return _Context(
        resource,
        _revealed(resource.inputs, show_secrets),
        str(provider.get("database") or "postgres"),
        str(provider.get("username") or "postgres"),
    )


# Updates ---------------------------------------------------------------------------------------


def _role_update(context: _Context, old: dict[str, Any], changed: tuple[str, ...]) -> SqlStep:
    """resource_postgresql_role.go `resourcePostgreSQLRoleUpdate`: one transaction."""
    new = context.inputs
    name = str(new["name"])
    role = quote_ident(name)
    statements: list[str] = []
    if "name" in changed:  # setRoleName
        statements.append(f"ALTER ROLE {quote_ident(str(old['name']))} RENAME TO {role}")
    if ("password" in changed or "name" in changed) and new.get("password"):  # setRolePassword
        statements.append(f"ALTER ROLE {role} PASSWORD {quote_literal(str(new['password']))}")
    flags = (  # setRoleBypassRLS ... setRoleSuperuser, each only when its input changed
        ("bypassRowLevelSecurity", "BYPASSRLS"), ("createDatabase", "CREATEDB"), ("createRole", "CREATEROLE"),
        ("inherit", "INHERIT"), ("login", "LOGIN"), ("replication", "REPLICATION"), ("superuser", "SUPERUSER"),
    )  # fmt: skip
    if "connectionLimit" in changed:  # setRoleConnLimit
        statements.append(f"ALTER ROLE {role} CONNECTION LIMIT {int(new.get('connectionLimit', -1))}")
    for key, keyword in flags:
        if key in changed:
            statements.append(f"ALTER ROLE {role} WITH {'' if new.get(key) else 'NO'}{keyword}")
    if "validUntil" in changed:  # setRoleValidUntil
        statements.append(f"ALTER ROLE {role} VALID UNTIL {quote_literal(str(new.get('validUntil') or 'infinity'))}")
    # revokeRoles: every membership the role holds now, whatever granted it; then grantRoles.
    revoke_all = (
        "DECLARE granted text;\nBEGIN\n"
        "    FOR granted IN SELECT pg_catalog.pg_get_userbyid(m.roleid) FROM pg_catalog.pg_auth_members m\n"
        f"        JOIN pg_catalog.pg_roles r ON m.member = r.oid WHERE r.rolname = {quote_literal(name)}\n"
        "    LOOP\n"
        f"        EXECUTE format('REVOKE %I FROM %I', granted, {quote_literal(name)});\n"
        "    END LOOP;\nEND\n"
    )
    statements.append(f"DO {_dollar_quote(revoke_all)}")
    statements += [f"GRANT {quote_ident(str(group))} TO {role}" for group in new.get("roles") or []]
    search_path = [quote_ident(str(schema)) for schema in new.get("searchPaths") or []]  # alterSearchPath: always
    statements.append(f"ALTER ROLE {role} SET search_path TO {', '.join(search_path) or 'DEFAULT'}")
    for key, setting in (("statementTimeout", "statement_timeout"),
                         ("idleInTransactionSessionTimeout", "idle_in_transaction_session_timeout")):  # fmt: skip
        if key in changed:  # setStatementTimeout, setIdleInTransactionSessionTimeout
            value = new.get(key)
            statements.append(
                f"ALTER ROLE {role} SET {setting} TO {int(value)}" if value else f"ALTER ROLE {role} RESET {setting}"
            )
    if "assumeRole" in changed:  # setAssumeRole
        assumed = new.get("assumeRole")
        statements.append(
            f"ALTER ROLE {role} SET ROLE TO {quote_ident(str(assumed))}" if assumed else f"ALTER ROLE {role} RESET ROLE"
        )
    return context.step(None, *statements, transaction=True)


def _schema_update(context: _Context, old: dict[str, Any], changed: tuple[str, ...]) -> SqlStep:
    """resource_postgresql_schema.go `resourcePostgreSQLSchemaUpdate`: setSchemaName, setSchemaOwner."""
    new = context.inputs
    database = str(new.get("database") or context.provider_database)
    schema = quote_ident(str(new["name"]))
    statements = []
    if "name" in changed:
        statements.append(f"ALTER SCHEMA {quote_ident(str(old['name']))} RENAME TO {schema}")
    if "owner" in changed and new.get("owner"):
        statements.append(f"ALTER SCHEMA {schema} OWNER TO {quote_ident(str(new['owner']))}")
    return context.step(database, *statements, transaction=True)


_UPDATES: dict[str, Callable[[_Context, dict[str, Any], tuple[str, ...]], SqlStep]] = {
    ROLE: _role_update,
    SCHEMA: _schema_update,
    # resourcePostgreSQLGrantUpdate: revoke and grant again (every other input is ForceNew).
    GRANT: lambda context, _old, _changed: _pg_grant(context),
    # resource_postgresql_default_privileges.go: Update is resourcePostgreSQLDefaultPrivilegesCreate.
    DEFAULT_PRIVILEGES: lambda context, _old, _changed: _pg_default_privileges(context),
    # The dynamic provider's update runs `sql` again (components/sql_script.py).
    DYNAMIC_RESOURCE: lambda context, _old, _changed: _dynamic(context),
}


def _update(context: _Context, old: dict[str, Any], changed: tuple[str, ...]) -> SqlStep:
    builder = _UPDATES.get(context.resource.type)
    if builder is None:
        raise UnsupportedResourceError(f"{context.resource.name}: no update SQL modelled for {context.resource.type}")
    return builder(context, old, changed)


# Deletes ---------------------------------------------------------------------------------------


def _role_delete(context: _Context) -> list[SqlStep]:
    """resource_postgresql_role.go `resourcePostgreSQLRoleDelete`: one transaction."""
    inputs = context.inputs
    role = quote_ident(str(inputs["name"]))
    statements = []
    if not inputs.get("skipReassignOwned"):
        statements += [f"REASSIGN OWNED BY {role} TO {quote_ident(context.admin_user)}", f"DROP OWNED BY {role}"]
    if not inputs.get("skipDropRole"):
        statements.append(f"DROP ROLE {role}")
    return [context.step(None, *statements, transaction=True)]


def _schema_delete(context: _Context) -> list[SqlStep]:
    """resource_postgresql_schema.go `resourcePostgreSQLSchemaDelete`: nothing if the schema is gone,
    else DROP SCHEMA, RESTRICT unless `dropCascade`."""
    inputs = context.inputs
    database = str(inputs.get("database") or context.provider_database)
    mode = "CASCADE" if inputs.get("dropCascade") else "RESTRICT"
    return [context.step(database, f"DROP SCHEMA IF EXISTS {quote_ident(str(inputs['name']))} {mode}")]


def _grant_delete(context: _Context) -> list[SqlStep]:
    """resource_postgresql_grant.go `resourcePostgreSQLGrantDelete`: the revoke of create, alone."""
    create = _pg_grant(context)
    return [context.step(create.database, create.statements[0])]


def _default_privileges_delete(context: _Context) -> list[SqlStep]:
    """resource_postgresql_default_privileges.go `resourcePostgreSQLDefaultPrivilegesDelete`."""
    create = _pg_default_privileges(context)
    return [context.step(create.database, create.statements[0])]


def _grant_role_delete(context: _Context) -> list[SqlStep]:
    """resource_postgresql_grant_role.go `createRevokeRoleQuery`."""
    inputs = context.inputs
    return [
        context.step(None, f"REVOKE {quote_ident(str(inputs['grantRole']))} FROM {quote_ident(str(inputs['role']))}")
    ]


_DELETES: dict[str, Callable[[_Context], list[SqlStep]]] = {
    ROLE: _role_delete,
    SCHEMA: _schema_delete,
    GRANT: _grant_delete,
    DEFAULT_PRIVILEGES: _default_privileges_delete,
    GRANT_ROLE: _grant_role_delete,
    # components/sql_script.py: the dynamic provider's delete leaves the objects in place.
    DYNAMIC_RESOURCE: lambda _context: [],
}


def _delete(context: _Context) -> list[SqlStep]:
    builder = _DELETES.get(context.resource.type)
    if builder is None:
        raise UnsupportedResourceError(f"{context.resource.name}: no delete SQL modelled for {context.resource.type}")
    return builder(context)


def diff_sql(diff: StackDiff, lifecycle: ProviderLifecycle, show_secrets: bool = False) -> list[ServerSql | None]:
    """The SQL of each step of `diff`, in step order (None for a step that runs none)."""
    return [lifecycle.sql(step, diff, show_secrets) for step in diff.steps]


__all__ = ["DELETE", "DELETE_REPLACED", "ProviderLifecycle", "ServerSql", "diff_sql"]
