"""The SQL each database resource runs on create, update and delete, as the pinned providers run it.

A model of the providers, not of an ideal: a `CREATE ROLE` of a role that exists fails here as it
fails in `pulumi up`; a role update revokes every membership the role holds and grants back only
its `roles`; a schema drop is RESTRICT unless `dropCascade`. Each statement builder names the
upstream file and function it follows:

* `postgresql:*` -- cyrilgdn/terraform-provider-postgresql at ff936b9 (v1.26.0+3, bridged by
  pulumi-postgresql 3.18), `postgresql/resource_postgresql_*.go` and `postgresql/helpers.go`.
* `mysql:*` -- hashicorp/terraform-provider-mysql v1.9.0 (bridged by pulumi-mysql 3.3),
  `mysql/resource_*.go`.
* `pulumi-python:dynamic:Resource` -- `components/sql_script.py` (the program's own provider).

What the model leaves out, on purpose: the providers' SELECTs: the catalog reads each operation
makes and ends with (`review.providers.refresh` models the reads), and the advisory locks of `pgLockRole` /
`pgLockDatabase` in helpers.go (`SELECT pg_advisory_xact_lock(...)`: they serialize concurrent
provider runs, last until the transaction ends and change no catalog). The `SET statement_timeout
= 0` those helpers run first is rendered: it is a statement of the transaction. The end-to-end tests
(tests/e2e) hold the model to the statements real providers send, read from the servers' logs.

Where a provider decides from live state (who owns the tables of a schema, which memberships a
role holds, whether the admin is already a member of an owner, whether a schema exists), the model
takes that state from a `ServerContext`; `server_context` derives it from a captured
stack (the state that stack leaves behind), callers with a live server can pass what they read.

Inputs are the wire inputs of a captured `Resource` (camelCase, secrets wrapped in `Secret`). An
input the model does not know, or a value it has no SQL for, raises `UnsupportedResourceError`
naming the resource and the input: nothing is rendered that the provider would not run.

The API: `server_context(plan, server)`, then `create_steps(resource, ctx)`,
`update_steps(old, new, ctx)` (only where `has_update(type)` and no input in `replace_keys(type)`
changed; a replacement is a create plus a delete, in the order the engine runs them) and
`delete_steps(resource, ctx)`, each a list of `SqlStep`. `review.providers.refresh` models the reads;
`review.views.sql.render_steps` turns steps into psql script lines.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from resource_types import (
    DYNAMIC_RESOURCE,
    MYSQL_DATABASE,
    MYSQL_GRANT,
    MYSQL_PREFIX,
    MYSQL_PROVIDER,
    MYSQL_USER,
    PG_DATABASE,
    PG_DEFAULT_PRIVILEGES,
    PG_EXTENSION,
    PG_FOREIGN_SERVER,
    PG_GRANT,
    PG_GRANT_ROLE,
    PG_PHYSICAL_SLOT,
    PG_ROLE,
    PG_SCHEMA,
    PG_USER_MAPPING,
    POSTGRES_PROVIDER,
    POSTGRESQL_PREFIX,
)
from review.capture.plan import Plan, short_type
from review.capture.program import Resource, Secret, unwrap_secrets
from topology.sql import quote_ident

PASSWORD_INPUTS = {PG_ROLE: ("password",), MYSQL_USER: ("plaintextPassword",), PG_USER_MAPPING: ("options", "password")}
"""The input (path) of each resource type that holds a password."""


def password_input(resource: Resource) -> Any:
    """The resource's password input as captured (a `Secret` when it or what holds it is secret), or None."""
    value: Any = resource.inputs
    secret = False
    for key in PASSWORD_INPUTS.get(resource.type, ()):
        if isinstance(value, Secret):
            value, secret = value.value, True
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return Secret(value) if secret and value is not None and not isinstance(value, Secret) else value


def password_owner(resource: Resource) -> str:
    """The login whose password the resource sets: a role, a MySQL user, a mapping's remote `user`."""
    inputs = unwrap_secrets(resource.inputs)
    if resource.type == PG_ROLE:
        return str(inputs["name"])
    if resource.type == PG_USER_MAPPING:
        return str(inputs["options"]["user"])
    return str(inputs["user"])


class UnsupportedResourceError(ValueError):
    """A resource, input or value whose SQL the model does not know."""


@dataclass(frozen=True)
class SqlStep:
    """What one operation of one resource runs: statements executed together, on one database."""

    resource: str
    """`<short type> <name>`, e.g. `postgresql:Grant main-madansara_read-tables`."""
    urn: str
    """URN of the resource."""
    database: str | None
    """The database to connect to; None for server-wide statements (roles, memberships, databases,
    and every MySQL statement), which the provider runs on its own connection database."""
    statements: tuple[str, ...]
    """In order, as the provider sends them."""
    transaction: bool = False
    """Whether the statements run in one transaction (the provider's `startTransaction`); if not,
    each commits on its own (CREATE/DROP DATABASE cannot run in a transaction)."""
    operation: str = "create"
    """`create`, `update` or `delete`."""

    @property
    def sql(self) -> str:
        """The statements, each terminated, one per line."""
        return "\n".join(_terminated(statement) for statement in self.statements)


def _terminated(statement: str) -> str:
    text = statement.rstrip()
    return text if text.endswith(";") else text + ";"


class SecretStyle(enum.Enum):
    """How a password appears in a statement."""

    VALUES = "values"
    """The value the resource holds, quoted as the provider quotes it (for applying)."""
    VARIABLES = "variables"
    """A reference: psql `:'name'` (PostgreSQL), `'${name}'` (MySQL, for `envsubst`)."""


_VARIABLE_CHARACTERS = re.compile(r"[^A-Za-z0-9_]")


def secret_variable(server: str, resource: Resource) -> str:
    """The variable that stands for a resource's password: `<server>_<role or user>_password`."""
    inputs = unwrap_secrets(resource.inputs)
    if resource.type == PG_USER_MAPPING:
        # The mapping's copy of a remote login's password, named by the local role it maps.
        return _VARIABLE_CHARACTERS.sub("_", f"{server}_{inputs.get('userName')}_mapping_password")
    owner = inputs.get("name") if resource.type == PG_ROLE else inputs.get("user")
    return _VARIABLE_CHARACTERS.sub("_", f"{server}_{owner}_password")


@dataclass(frozen=True)
class ServerContext:
    """What the provider of one server knows or finds out when it runs a resource's SQL.

    Build it with `server_context(plan, server)`; override live facts with
    `dataclasses.replace` (e.g. `table_owners` read from the server).
    """

    server: str
    """Server name in the stack (`main`, `flowdb`, `scheduler`)."""
    engine: str
    """`postgresql` or `mysql`."""
    admin_user: str
    """The role the provider connects as (its `username`)."""
    admin_is_superuser: bool = True
    """Whether that role is a superuser. The provider checks this live (helpers.go `withRolesGranted`
    calls `isSuperuser`); the model takes it from the provider's `superuser` setting."""
    provider_database: str = "postgres"
    """The database the provider connects to: server-wide statements and Schemas without
    `database` run there; `REASSIGN OWNED`/`DROP OWNED` of a Role delete act on it."""
    memberships: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Role -> the roles it is a member of on the server: what a Role update's `revokeRoles` finds
    and revokes. From a capture: its `roles` plus every GrantRole naming it."""
    schema_owners: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """(database, schema) -> owner; a schema not listed is `public`, owned by the database owner."""
    database_owners: Mapping[str, str] = field(default_factory=dict)
    """Database -> owner; a database not listed is owned by the admin (it existed before the stack)."""
    table_owners: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    """(database, schema) -> owners of its tables (helpers.go `getTablesOwner`, live). Default none:
    a schema the stack creates holds no tables yet."""
    existing_schemas: frozenset[tuple[str, str]] | None = None
    """(database, schema) of every schema that exists, read live; None when unknown. Schema create
    and delete branch on it as the provider does (`createSchema`'s `SELECT TRUE FROM pg_namespace`):
    known, the model renders the branch taken; unknown, a DO block holding both."""
    admin_member_of: frozenset[str] = frozenset()
    """Roles the admin is already a member of (with SET): `withRolesGranted` and the Database
    resource skip their temporary GRANT/REVOKE of these."""
    mysql_roles_supported: bool = True
    """v1.9.0 `supportsRoles`: `@@GLOBAL.innodb_version` > 8.0.0 (MySQL 8, the stack's server). Then
    a grant carries neither REQUIRE nor WITH GRANT OPTION. (MariaDB 10.10+ has no innodb_version:
    there v1.9.0's CREATE USER and GRANT fail before sending any SQL.)"""
    secrets: SecretStyle = SecretStyle.VALUES
    """Passwords as values or as variables (see `SecretStyle`)."""
    secret_values: Mapping[str, str] = field(default_factory=dict)
    """URN -> the password to write for that resource instead of the captured one (VALUES style)."""
    provider_databases: Mapping[str, str] = field(default_factory=dict)
    """URN of each of the server's providers -> the database it connects to (a server may have a
    second provider on its layout's database); a provider not listed connects to `provider_database`."""

    def database_of_provider(self, provider: str | None) -> str:
        """The database a resource's provider connects to (`db.client.databaseName` upstream)."""
        return self.provider_databases.get(provider or "", self.provider_database)

    def password_sql(self, resource: Resource, value: Any) -> str:
        """The password literal as the provider writes it, or its variable."""
        if self.secrets is SecretStyle.VARIABLES:
            name = secret_variable(self.server, resource)
            return f":'{name}'" if self.engine == "postgresql" else f"'${{{name}}}'"
        text = self.secret_values.get(resource.urn) or str(unwrap_secrets(value))
        if self.engine == "postgresql":
            # helpers.go pqQuoteLiteral: backslashes doubled inside a standard string (the role's
            # password then holds two), quotes doubled.
            return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
        if "'" in text or "\\" in text:
            # resource_user.go interpolates the password unescaped: the statement would break.
            raise UnsupportedResourceError(f"{resource.name}: a MySQL password with a quote or backslash")
        return f"'{text}'"

    def owner_of_database(self, database: str) -> str:
        return self.database_owners.get(database, self.admin_user)

    def owner_of_schema(self, database: str, schema: str) -> str:
        """helpers.go `getSchemaOwner` + `resolveOwners` (pg_database_owner -> the database owner)."""
        return self.schema_owners.get((database, schema), self.owner_of_database(database))


# Inputs ---------------------------------------------------------------------------------------

_REQUIRED = object()

_KNOWN_INPUTS: dict[str, dict[str, Any]] = {
    # resource_postgresql_role.go resourcePostgreSQLRole (schema defaults)
    PG_ROLE: {
        "name": _REQUIRED, "password": "", "login": False, "inherit": True, "superuser": False,
        "createRole": False, "createDatabase": False, "replication": False, "bypassRowLevelSecurity": False,
        "roles": [], "searchPaths": [], "skipReassignOwned": False, "skipDropRole": False,
        "connectionLimit": -1, "validUntil": "infinity", "encryptedPassword": True,
    },
    # resource_postgresql_grant.go resourcePostgreSQLGrant
    PG_GRANT: {
        "role": _REQUIRED, "database": _REQUIRED, "schema": "", "objectType": _REQUIRED, "objects": [],
        "privileges": _REQUIRED, "withGrantOption": False,
    },
    # resource_postgresql_default_privileges.go resourcePostgreSQLDefaultPrivileges
    PG_DEFAULT_PRIVILEGES: {
        "role": _REQUIRED, "database": _REQUIRED, "owner": _REQUIRED, "schema": "", "objectType": _REQUIRED,
        "privileges": _REQUIRED, "withGrantOption": False,
    },
    # resource_postgresql_schema.go resourcePostgreSQLSchema
    PG_SCHEMA: {"name": _REQUIRED, "database": "", "owner": "", "ifNotExists": True, "dropCascade": False},
    # resource_postgresql_grant_role.go resourcePostgreSQLGrantRole
    PG_GRANT_ROLE: {"role": _REQUIRED, "grantRole": _REQUIRED, "withAdminOption": False},
    # resource_postgresql_database.go resourcePostgreSQLDatabase
    PG_DATABASE: {
        "name": _REQUIRED, "owner": "", "template": "", "encoding": "", "lcCollate": "", "lcCtype": "",
        "tablespaceName": "", "connectionLimit": -1, "allowConnections": True, "isTemplate": False,
    },
    # resource_postgresql_physical_replication_slot.go resourcePostgreSQLPhysicalReplicationSlot
    PG_PHYSICAL_SLOT: {"name": _REQUIRED},
    # resource_postgresql_extension.go resourcePostgreSQLExtension
    PG_EXTENSION: {
        "name": _REQUIRED, "schema": "", "version": "", "database": "", "dropCascade": False, "createCascade": False,
    },
    # resource_postgresql_server.go resourcePostgreSQLServer
    PG_FOREIGN_SERVER: {
        "serverName": _REQUIRED, "serverType": "", "serverVersion": "", "fdwName": _REQUIRED, "serverOwner": "",
        "options": {}, "dropCascade": False,
    },
    # resource_postgresql_user_mapping.go resourcePostgreSQLUserMapping
    PG_USER_MAPPING: {"userName": _REQUIRED, "serverName": _REQUIRED, "options": {}},
    # v1.9.0 mysql/resource_database.go resourceDatabase
    MYSQL_DATABASE: {"name": _REQUIRED, "defaultCharacterSet": "utf8", "defaultCollation": "utf8_general_ci"},
    # v1.9.0 mysql/resource_user.go resourceUser
    MYSQL_USER: {"user": _REQUIRED, "host": "localhost", "plaintextPassword": "", "tlsOption": "NONE"},
    # v1.9.0 mysql/resource_grant.go resourceGrant
    MYSQL_GRANT: {
        "user": _REQUIRED, "host": "localhost", "database": _REQUIRED, "table": "*", "privileges": _REQUIRED,
        "grant": False, "tlsOption": "NONE",
    },
}  # fmt: skip


def inputs_of(resource: Resource) -> dict[str, Any]:
    """The resource's inputs with the provider's defaults filled in; secrets stay `Secret`.

    Raises `UnsupportedResourceError` on an input the model does not know or a required one missing.
    """
    if resource.type == DYNAMIC_RESOURCE:
        inputs = {key: value for key, value in resource.inputs.items() if not key.startswith("__")}
        for key in ("sql", "database"):
            if key not in inputs:
                raise UnsupportedResourceError(f"{resource.name}: a SQL script without `{key}`")
        return inputs
    known = _KNOWN_INPUTS.get(resource.type)
    if known is None:
        raise UnsupportedResourceError(f"{resource.name}: no SQL model for {resource.type}")
    inputs = {}
    for key, value in resource.inputs.items():
        if key.startswith("__"):
            continue
        if key not in known:
            raise UnsupportedResourceError(
                f"{resource.name}: input `{key}` of {short_type(resource.type)} is not modelled"
            )
        inputs[key] = value
    for key, default in known.items():
        if inputs.get(key) is None:
            if default is _REQUIRED:
                raise UnsupportedResourceError(f"{resource.name}: input `{key}` is required")
            inputs[key] = default
    return inputs


def _plain(inputs: Mapping[str, Any], key: str) -> Any:
    return unwrap_secrets(inputs[key])


def _text(inputs: Mapping[str, Any], key: str) -> str:
    return str(_plain(inputs, key))


def _strings(inputs: Mapping[str, Any], key: str) -> list[str]:
    return [str(item) for item in _plain(inputs, key) or []]


def set_order(items: Iterable[str]) -> list[str]:
    """The order terraform-plugin-sdk's `schema.Set.List()` yields a `HashString` set in: by the
    decimal text of each item's CRC-32 (`hashcode.String`), compared as strings."""
    return sorted(dict.fromkeys(items), key=lambda item: str(zlib.crc32(item.encode())))


def _unsupported(resource: Resource, key: str, value: Any) -> UnsupportedResourceError:
    return UnsupportedResourceError(f"{resource.name}: {key}={value!r} is not modelled")


# Shared PostgreSQL pieces -------------------------------------------------------------------------


LOCK_TIMEOUT = "SET statement_timeout = 0"
"""helpers.go pgLockRole / pgLockDatabase: run first, so that waiting for the advisory lock cannot
time out (the lock itself is a SELECT, which the model leaves out)."""


def _locked(body: list[str], locks: int = 1) -> list[str]:
    """`body` after the statements of `locks` pgLockRole / pgLockDatabase calls."""
    return [LOCK_TIMEOUT] * locks + body


def _with_roles_granted(ctx: ServerContext, roles: Iterable[str], body: list[str]) -> list[str]:
    """helpers.go `withRolesGranted`: a non-superuser admin is made a member of each role for the
    body and the membership is revoked after it (skipped for the admin itself and for roles it is
    already a member of). A role that is itself a member of the admin loses that membership for the
    body (PostgreSQL refuses circular memberships) and gets it back after. A superuser admin runs
    the body alone."""
    if ctx.admin_is_superuser:
        return body
    admin = quote_ident(ctx.admin_user)
    before: list[str] = []
    granted: list[str] = []
    reversed_: list[str] = []
    for role in dict.fromkeys(roles):
        if ctx.admin_user in ctx.memberships.get(role, ()):  # revokeRoleMembership(currentUser, role)
            before.append(f"REVOKE {admin} FROM {quote_ident(role)}")
            reversed_.append(role)
        if role and role != ctx.admin_user and role not in ctx.admin_member_of:  # grantRoleMembership
            before.append(f"GRANT {quote_ident(role)} TO {admin}")
            granted.append(role)
    after = [f"REVOKE {quote_ident(role)} FROM {admin}" for role in granted]
    after += [f"GRANT {admin} TO {quote_ident(role)}" for role in reversed_]
    return before + body + after


def _owner_granted(ctx: ServerContext, owner: str, body: list[str]) -> list[str]:
    """resource_postgresql_database.go: `grantRoleMembership(owner, currentUser)` before the body and
    the deferred `revokeRoleMembership` after it, superuser or not."""
    if not owner or owner == ctx.admin_user or owner in ctx.admin_member_of:
        return body
    admin = quote_ident(ctx.admin_user)
    return [f"GRANT {quote_ident(owner)} TO {admin}", *body, f"REVOKE {quote_ident(owner)} FROM {admin}"]


def _dollar_quoted(body: str, tag: str = "do") -> str:
    candidate, counter = f"${tag}$", 0
    while candidate in body:
        counter += 1
        candidate = f"${tag}{counter}$"
    return f"{candidate}\n{body}{candidate}"


def _if_block(condition: str, then: list[str], otherwise: list[str] | None = None) -> str:
    """A DO block for a branch the provider takes on a query it runs first."""
    lines = ["BEGIN", f"    IF {condition} THEN"]
    lines += [f"        {_terminated(statement)}" for statement in then]
    if otherwise:
        lines.append("    ELSE")
        lines += [f"        {_terminated(statement)}" for statement in otherwise]
    lines += ["    END IF;", "END", ""]
    return "DO " + _dollar_quoted("\n".join(lines))


def _schema_exists(name: str) -> str:
    return f"EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = {_pg_literal(name)})"


def _pg_literal(value: str) -> str:
    """helpers.go pqQuoteLiteral inside single quotes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _changed(old: Mapping[str, Any], new: Mapping[str, Any], key: str) -> bool:
    """terraform's `d.HasChange`: the values (defaults filled, secrets unwrapped) differ."""
    before: Any = unwrap_secrets(old.get(key))
    after: Any = unwrap_secrets(new.get(key))
    if key in _SET_INPUTS:  # TypeSet: order does not count
        return set(before or []) != set(after or [])
    return bool(before != after)


_SET_INPUTS = frozenset({"roles", "privileges", "objects"})


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
        raise _unsupported(resource, "password", "NULL")
    return password


def _valid_until(value: str) -> str:
    return "'infinity'" if value == "" or value.lower() == "infinity" else _pg_literal(value)


def _search_path(role: str, inputs: Mapping[str, Any], resource: Resource) -> str:
    """alterSearchPath: always run, `DEFAULT` when empty."""
    parts = _strings(inputs, "searchPaths")
    if any(", " in part for part in parts):
        raise _unsupported(resource, "searchPaths", parts)
    path = ", ".join(quote_ident(part) for part in parts) if parts else "DEFAULT"
    return f"ALTER ROLE {role} SET search_path TO {path}"


def _grant_roles(role: str, inputs: Mapping[str, Any]) -> list[str]:
    """grantRoles: one GRANT per element of the `roles` set, in set order."""
    return [f"GRANT {quote_ident(group)} TO {role}" for group in set_order(_strings(inputs, "roles"))]


def _role_create(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLRoleCreate: a plain CREATE ROLE (fails if the role exists), then grantRoles,
    alterSearchPath; statement_timeout etc. are not modelled inputs."""
    options: list[str] = []
    if _text(inputs, "password"):
        _role_password(resource, inputs)
        options.append("ENCRYPTED" if _plain(inputs, "encryptedPassword") else "UNENCRYPTED")
        options.append(f"PASSWORD {ctx.password_sql(resource, inputs['password'])}")
    options.append(f"VALID UNTIL {_valid_until(_text(inputs, 'validUntil'))}")
    options.append(f"CONNECTION LIMIT {int(_plain(inputs, 'connectionLimit'))}")
    options += [keyword if _plain(inputs, key) else "NO" + keyword for key, keyword in _ROLE_FLAGS]
    role = quote_ident(_text(inputs, "name"))
    return [
        f"CREATE ROLE {role} WITH {' '.join(options)}",
        *_grant_roles(role, inputs),
        _search_path(role, inputs, resource),
    ]


def _role_update(resource: Resource, old: dict[str, Any], new: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLRoleUpdate: the attributes that changed, then revokeRoles (EVERY membership
    the role holds on the server), grantRoles (its `roles` only) and alterSearchPath, always."""
    statements: list[str] = []
    old_name, name = _text(old, "name"), _text(new, "name")
    role = quote_ident(name)
    if old_name != name:  # setRoleName
        statements.append(f"ALTER ROLE {quote_ident(old_name)} RENAME TO {role}")
    if (_changed(old, new, "password") or old_name != name) and _text(new, "password"):  # setRolePassword
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
        if not _changed(old, new, key):
            continue
        if key == "connectionLimit":
            statements.append(f"ALTER ROLE {role} CONNECTION LIMIT {int(_plain(new, key))}")
        elif key == "validUntil":
            if _text(new, key):
                statements.append(f"ALTER ROLE {role} VALID UNTIL {_valid_until(_text(new, key))}")
        else:
            assert keyword is not None
            statements.append(f"ALTER ROLE {role} WITH {keyword if _plain(new, key) else 'NO' + keyword}")
    # revokeRoles: what pg_auth_members holds for the role, whoever granted it
    statements += [f"REVOKE {quote_ident(group)} FROM {role}" for group in ctx.memberships.get(old_name, ())]
    statements += _grant_roles(role, new)
    statements.append(_search_path(role, new, resource))
    return _locked(statements)  # pgLockRole(oldName) first


def _role_delete(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLRoleDelete: pgLockRole, then unless skipReassignOwned, REASSIGN OWNED BY the
    role TO the admin and DROP OWNED BY it (in the provider's database only, inside withRolesGranted);
    then DROP ROLE unless skipDropRole. A role that still owns objects elsewhere makes DROP ROLE fail."""
    role = quote_ident(_text(inputs, "name"))
    statements: list[str] = []
    if not _plain(inputs, "skipReassignOwned"):
        body = [f"REASSIGN OWNED BY {role} TO {quote_ident(ctx.admin_user)}", f"DROP OWNED BY {role}"]
        statements += _with_roles_granted(ctx, [_text(inputs, "name")], body)
    if not _plain(inputs, "skipDropRole"):
        statements.append(f"DROP ROLE {role}")
    return _locked(statements)


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
    object_type = _text(inputs, "objectType")
    allowed = _GRANT_PRIVILEGES.get(object_type)
    if allowed is None:
        raise _unsupported(resource, "objectType", object_type)
    for privilege in _strings(inputs, "privileges"):
        if privilege not in allowed:
            raise _unsupported(resource, "privileges", privilege)
    if object_type in ("database", "schema") and _strings(inputs, "objects"):
        raise _unsupported(resource, "objects", _strings(inputs, "objects"))
    if object_type != "database" and not _text(inputs, "schema"):
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
    object_type = _text(inputs, "objectType")
    role = quote_ident(_text(inputs, "role"))
    if object_type == "database":
        return f"REVOKE ALL PRIVILEGES ON DATABASE {quote_ident(_text(inputs, 'database'))} FROM {role}"
    schema = _text(inputs, "schema")
    if object_type == "schema":
        return f"REVOKE ALL PRIVILEGES ON SCHEMA {quote_ident(schema)} FROM {role}"
    objects, privileges = _strings(inputs, "objects"), _strings(inputs, "privileges")
    keyword = object_type.upper()
    if objects:
        revoked = ",".join(set_order(privileges)) if privileges else "ALL PRIVILEGES"
        return f"REVOKE {revoked} ON {keyword} {_qualified_list(schema, objects)} FROM {role}"
    return f"REVOKE ALL PRIVILEGES ON ALL {keyword}S IN SCHEMA {quote_ident(schema)} FROM {role}"


def _grant_query(inputs: Mapping[str, Any]) -> list[str]:
    """grantRolePrivileges / createGrantQuery: nothing when `privileges` is empty."""
    privileges = set_order(_strings(inputs, "privileges"))
    if not privileges:
        return []
    object_type = _text(inputs, "objectType")
    role = quote_ident(_text(inputs, "role"))
    listed = ",".join(privileges)
    schema = _text(inputs, "schema")
    objects = _strings(inputs, "objects")
    if object_type == "database":
        target = f"DATABASE {quote_ident(_text(inputs, 'database'))}"
    elif object_type == "schema":
        target = f"SCHEMA {quote_ident(schema)}"
    elif objects:
        target = f"{object_type.upper()} {_qualified_list(schema, objects)}"
    else:
        target = f"ALL {object_type.upper()}S IN SCHEMA {quote_ident(schema)}"
    grant_option = " WITH GRANT OPTION" if _plain(inputs, "withGrantOption") else ""
    return [f"GRANT {listed} ON {target} TO {role}{grant_option}"]


def _grant_owners(inputs: Mapping[str, Any], ctx: ServerContext) -> list[str]:
    """getRolesToGrant: the owners of the schema's tables (not for a schema grant), then the schema's
    owner; none for a database grant."""
    object_type = _text(inputs, "objectType")
    if object_type == "database":
        return []
    database, schema = _text(inputs, "database"), _text(inputs, "schema")
    owners = [] if object_type == "schema" else list(ctx.table_owners.get((database, schema), ()))
    owner = ctx.owner_of_schema(database, schema)
    if owner not in owners:
        owners.append(owner)
    return owners


def _grant_locks(inputs: Mapping[str, Any]) -> int:
    """pgLockRole(role), and pgLockDatabase(database) for a database grant."""
    return 2 if _text(inputs, "objectType") == "database" else 1


def _grant_create(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLGrantCreateOrUpdate: the locks, then revoke and grant inside withRolesGranted(owners)."""
    _check_grant(resource, inputs)
    body = _with_roles_granted(ctx, _grant_owners(inputs, ctx), [_grant_revoke_query(inputs), *_grant_query(inputs)])
    return _locked(body, _grant_locks(inputs))


def _grant_update(resource: Resource, old: dict[str, Any], new: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLGrantCreateOrUpdate(usePrevious): the revoke uses the old `privileges`
    (every other input forces a replacement)."""
    _check_grant(resource, new)
    previous = {**new, "privileges": old["privileges"]}
    body = _with_roles_granted(ctx, _grant_owners(new, ctx), [_grant_revoke_query(previous), *_grant_query(new)])
    return _locked(body, _grant_locks(new))


def _grant_delete(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLGrantDelete: the locks, then the revoke alone inside withRolesGranted(owners)."""
    _check_grant(resource, inputs)
    body = _with_roles_granted(ctx, _grant_owners(inputs, ctx), [_grant_revoke_query(inputs)])
    return _locked(body, _grant_locks(inputs))


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
    schema = _text(inputs, "schema")
    in_schema = f"IN SCHEMA {quote_ident(schema)}" if schema else ""
    return f"FOR ROLE {quote_ident(_text(inputs, 'owner'))} {in_schema}"


def _default_privileges_statements(resource: Resource, inputs: Mapping[str, Any], grant: bool) -> list[str]:
    object_type = _text(inputs, "objectType")
    allowed = _DEFAULT_PRIVILEGE_TYPES.get(object_type)
    if allowed is None:
        raise _unsupported(resource, "objectType", object_type)
    privileges = set_order(_strings(inputs, "privileges"))
    for privilege in privileges:
        if privilege not in allowed:
            raise _unsupported(resource, "privileges", privilege)
    role = quote_ident(_text(inputs, "role"))
    if _plain(inputs, "withGrantOption") and _text(inputs, "role").lower() == "public":
        raise _unsupported(resource, "withGrantOption", True)
    scope, objects = _default_privileges_scope(inputs), object_type.upper() + "S"
    # revokeRoleDefaultPrivileges
    statements = [f"ALTER DEFAULT PRIVILEGES {scope} REVOKE ALL ON {objects} FROM {role}"]
    if grant and privileges:  # grantRoleDefaultPrivileges
        grant_option = " WITH GRANT OPTION" if _plain(inputs, "withGrantOption") else ""
        statements.append(
            f"ALTER DEFAULT PRIVILEGES {scope} GRANT {','.join(privileges)} ON {objects} TO {role}{grant_option}"
        )
    return statements


def _default_privileges_create(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLDefaultPrivilegesCreate (also its Update): pgLockRole(owner), then revoke
    all and grant inside withRolesGranted([owner])."""
    body = _default_privileges_statements(resource, inputs, grant=True)
    return _locked(_with_roles_granted(ctx, [_text(inputs, "owner")], body))


def _default_privileges_update(
    resource: Resource, _old: dict[str, Any], new: dict[str, Any], ctx: ServerContext
) -> list[str]:
    return _default_privileges_create(resource, new, ctx)


def _default_privileges_delete(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLDefaultPrivilegesDelete: pgLockRole(owner), then the revoke inside
    withRolesGranted([owner])."""
    body = _default_privileges_statements(resource, inputs, grant=False)
    return _locked(_with_roles_granted(ctx, [_text(inputs, "owner")], body))


# postgresql:Schema -- resource_postgresql_schema.go ---------------------------------------------


def _schema_database(inputs: Mapping[str, Any], ctx: ServerContext) -> str:
    return _text(inputs, "database") or ctx.provider_database


def _schema_create(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLSchemaCreate / createSchema: inside withRolesGranted([database owner, schema
    owner]), an existing schema only gets its owner set; otherwise CREATE SCHEMA [IF NOT EXISTS]
    ... AUTHORIZATION owner."""
    name, owner = _text(inputs, "name"), _text(inputs, "owner")
    schema = quote_ident(name)
    create = "CREATE SCHEMA " + ("IF NOT EXISTS " if _plain(inputs, "ifNotExists") else "") + schema
    if owner:
        create += f" AUTHORIZATION {quote_ident(owner)}"
    adopt = [f"ALTER SCHEMA {schema} OWNER TO {quote_ident(owner)}"] if owner else []  # setSchemaOwner
    database = _schema_database(inputs, ctx)
    branch: list[str]
    if ctx.existing_schemas is not None:
        branch = adopt if (database, name) in ctx.existing_schemas else [create]
    elif adopt:
        branch = [_if_block(_schema_exists(name), adopt, [create])]
    else:
        branch = [_if_block(f"NOT {_schema_exists(name)}", [create])]
    database_owner = ctx.owner_of_database(database)
    roles = [database_owner] + ([owner] if owner and owner != database_owner else [])
    return _with_roles_granted(ctx, roles, branch)


def _schema_update(resource: Resource, old: dict[str, Any], new: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLSchemaUpdate: setSchemaName, setSchemaOwner -- WITHOUT withRolesGranted, so
    a non-superuser admin must already be a member of the new owner."""
    statements: list[str] = []
    old_name, name = _text(old, "name"), _text(new, "name")
    if old_name != name:
        statements.append(f"ALTER SCHEMA {quote_ident(old_name)} RENAME TO {quote_ident(name)}")
    if _changed(old, new, "owner"):
        if not _text(new, "owner"):
            raise _unsupported(resource, "owner", "")
        statements.append(f"ALTER SCHEMA {quote_ident(name)} OWNER TO {quote_ident(_text(new, 'owner'))}")
    return statements


def _schema_delete(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLSchemaDelete: nothing if the schema is gone; else DROP SCHEMA ... RESTRICT
    (CASCADE only with dropCascade) inside withRolesGranted([owner])."""
    name, owner = _text(inputs, "name"), _text(inputs, "owner")
    if not owner and not ctx.admin_is_superuser:
        # withRolesGranted([""]) fails in isSuperuser: the provider cannot delete it either.
        raise _unsupported(resource, "owner", "")
    mode = "CASCADE" if _plain(inputs, "dropCascade") else "RESTRICT"
    body = _with_roles_granted(ctx, [owner], [f"DROP SCHEMA {quote_ident(name)} {mode}"])
    if ctx.existing_schemas is not None:
        return body if (_schema_database(inputs, ctx), name) in ctx.existing_schemas else []
    return [_if_block(_schema_exists(name), body)]


# postgresql:GrantRole -- resource_postgresql_grant_role.go --------------------------------------


def _grant_role_revoke(inputs: Mapping[str, Any]) -> str:
    """createRevokeRoleQuery."""
    return f"REVOKE {quote_ident(_text(inputs, 'grantRole'))} FROM {quote_ident(_text(inputs, 'role'))}"


def _grant_role_create(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLGrantRoleCreate: revoke, then grant (createGrantRoleQuery)."""
    admin_option = " WITH ADMIN OPTION" if _plain(inputs, "withAdminOption") else ""
    grant = f"GRANT {quote_ident(_text(inputs, 'grantRole'))} TO {quote_ident(_text(inputs, 'role'))}{admin_option}"
    return [_grant_role_revoke(inputs), grant]


def _grant_role_delete(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLGrantRoleDelete."""
    return [_grant_role_revoke(inputs)]


# postgresql:Database -- resource_postgresql_database.go -----------------------------------------


def _database_create(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """createDatabase: a plain CREATE DATABASE (fails if it exists), the owner granted to the admin
    around it when one is declared."""
    name, owner = _text(inputs, "name"), _text(inputs, "owner")
    parts = [f"CREATE DATABASE {quote_ident(name)}", f" OWNER {quote_ident(owner or ctx.admin_user)}"]
    template = _text(inputs, "template")
    if template.upper() == "DEFAULT":
        parts.append(" TEMPLATE DEFAULT")
    else:
        parts.append(f" TEMPLATE {quote_ident(template) if template else 'template0'}")
    encoding = _text(inputs, "encoding")
    parts.append(
        " ENCODING DEFAULT"
        if encoding.upper() == "DEFAULT"
        else f" ENCODING {_pg_literal(encoding)} "
        if encoding
        else " ENCODING 'UTF8'"
    )
    for key, keyword in (("lcCollate", "LC_COLLATE"), ("lcCtype", "LC_CTYPE")):
        value = _text(inputs, key)
        if value:
            parts.append(f" {keyword} DEFAULT" if value.upper() == "DEFAULT" else f" {keyword} {_pg_literal(value)} ")
    tablespace = _text(inputs, "tablespaceName")
    if tablespace:
        parts.append(
            " TABLESPACE DEFAULT" if tablespace.upper() == "DEFAULT" else f" TABLESPACE {quote_ident(tablespace)}"
        )
    parts.append(f" ALLOW_CONNECTIONS {'true' if _plain(inputs, 'allowConnections') else 'false'}")
    parts.append(f" CONNECTION LIMIT {int(_plain(inputs, 'connectionLimit'))}")
    parts.append(f" IS_TEMPLATE {'true' if _plain(inputs, 'isTemplate') else 'false'}")
    return _owner_granted(ctx, owner, ["".join(parts)])


def _database_update(resource: Resource, old: dict[str, Any], new: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLDatabaseUpdate: setDBName, setDBOwner (owner granted around it),
    setDBTablespace, setDBConnLimit, setDBAllowConns, setDBIsTemplate -- each only if changed."""
    statements: list[str] = []
    old_name, name = _text(old, "name"), _text(new, "name")
    database = quote_ident(name)
    if old_name != name:
        statements.append(f"ALTER DATABASE {quote_ident(old_name)} RENAME TO {database}")
    owner = _text(new, "owner")
    if _changed(old, new, "owner") and owner:
        statements += _owner_granted(ctx, owner, [f"ALTER DATABASE {database} OWNER TO {quote_ident(owner)}"])
    if _changed(old, new, "tablespaceName"):
        tablespace = _text(new, "tablespaceName")
        statements.append(
            f"ALTER DATABASE {database} RESET TABLESPACE"
            if not tablespace or tablespace.upper() == "DEFAULT"
            else f"ALTER DATABASE {database} SET TABLESPACE {quote_ident(tablespace)}"
        )
    if _changed(old, new, "connectionLimit"):
        statements.append(f"ALTER DATABASE {database} CONNECTION LIMIT = {int(_plain(new, 'connectionLimit'))}")
    if _changed(old, new, "allowConnections"):
        statements.append(
            f"ALTER DATABASE {database} ALLOW_CONNECTIONS {str(bool(_plain(new, 'allowConnections'))).lower()}"
        )
    if _changed(old, new, "isTemplate"):
        statements.append(f"ALTER DATABASE {database} IS_TEMPLATE {str(bool(_plain(new, 'isTemplate'))).lower()}")
    return statements


def _database_delete(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLDatabaseDelete: IS_TEMPLATE false for a template, connections blocked and
    terminated (terminateBConnections), DROP DATABASE ... WITH ( FORCE ) (PostgreSQL 13+)."""
    name = _text(inputs, "name")
    database = quote_ident(name)
    body = [f"ALTER DATABASE {database} IS_TEMPLATE false"] if _plain(inputs, "isTemplate") else []
    body += [
        f"ALTER DATABASE {database} ALLOW_CONNECTIONS false",
        # terminateBConnections interpolates the name unescaped
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()",
        f"DROP DATABASE {database} WITH ( FORCE )",
    ]
    if "'" in name:
        raise _unsupported(resource, "name", name)
    return _owner_granted(ctx, _text(inputs, "owner"), body)


# mysql -- hashicorp/terraform-provider-mysql v1.9.0 ---------------------------------------------


# postgresql:PhysicalReplicationSlot -- resource_postgresql_physical_replication_slot.go ----------


def _physical_slot_create(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLPhysicalReplicationSlotCreate: db.Exec, no transaction; fails if the slot exists."""
    return [f"SELECT FROM pg_create_physical_replication_slot({_pg_literal(_text(inputs, 'name'))})"]


def _physical_slot_delete(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLPhysicalReplicationSlotDelete: fails while a replica still streams from it."""
    return [f"SELECT pg_drop_replication_slot({_pg_literal(_text(inputs, 'name'))})"]


# postgresql:Extension -- resource_postgresql_extension.go --------------------------------------


def _extension_database(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> str:
    """getDatabaseForExtension: `database`, else the database of the resource's provider."""
    return _text(inputs, "database") or ctx.database_of_provider(resource.provider)


def _extension_create(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLExtensionCreate: IF NOT EXISTS (an extension installed by hand is taken over)."""
    statement = "CREATE EXTENSION IF NOT EXISTS " + quote_ident(_text(inputs, "name"))
    if _text(inputs, "schema"):
        statement += " SCHEMA " + quote_ident(_text(inputs, "schema"))
    if _text(inputs, "version"):
        statement += " VERSION " + quote_ident(_text(inputs, "version"))  # an identifier, as upstream quotes it
    if _plain(inputs, "createCascade"):
        statement += " CASCADE"
    return [statement]


def _extension_update(resource: Resource, old: dict[str, Any], new: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLExtensionUpdate: setExtSchema, then setExtVersion, each when changed."""
    name = quote_ident(_text(new, "name"))
    statements = []
    if _changed(old, new, "schema"):
        if not _text(new, "schema"):
            raise _unsupported(resource, "schema", "")  # "error setting extension name to an empty string"
        statements.append(f"ALTER EXTENSION {name} SET SCHEMA {quote_ident(_text(new, 'schema'))}")
    if _changed(old, new, "version"):
        version = _text(new, "version")
        statements.append(f"ALTER EXTENSION {name} UPDATE" + (f" TO {quote_ident(version)}" if version else ""))
    return statements


def _extension_delete(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLExtensionDelete: RESTRICT unless `dropCascade`."""
    mode = "CASCADE" if _plain(inputs, "dropCascade") else "RESTRICT"
    return [f"DROP EXTENSION {quote_ident(_text(inputs, 'name'))} {mode} "]


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
    statement = "CREATE SERVER " + quote_ident(_text(inputs, "serverName"))
    if _text(inputs, "serverType"):
        statement += " TYPE " + _pq_literal(_text(inputs, "serverType"))
    if _text(inputs, "serverVersion"):
        statement += " VERSION " + _pq_literal(_text(inputs, "serverVersion"))
    statement += " FOREIGN DATA WRAPPER " + quote_ident(_text(inputs, "fdwName"))
    statements = [statement + _options_clause(_options(inputs), _plain_literal)]
    owner = _text(inputs, "serverOwner")
    if owner and owner != ctx.admin_user:
        statements.append(f"ALTER SERVER {quote_ident(_text(inputs, 'serverName'))} OWNER TO {quote_ident(owner)}")
    return statements


def _server_update(_resource: Resource, old: dict[str, Any], new: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLServerUpdate: rename, owner, then version and options, each when changed."""
    name = quote_ident(_text(new, "serverName"))
    statements = []
    if _changed(old, new, "serverName"):
        statements.append(f"ALTER SERVER {quote_ident(_text(old, 'serverName'))} RENAME TO {name}")
    if _changed(old, new, "serverOwner"):
        statements.append(f"ALTER SERVER {name} OWNER TO {quote_ident(_text(new, 'serverOwner'))}")
    if _changed(old, new, "serverVersion") or _changed(old, new, "options"):
        statement = f"ALTER SERVER {name} "
        if _changed(old, new, "serverVersion"):
            statement += f"VERSION {_pq_literal(_text(new, 'serverVersion'))}"
        if _changed(old, new, "options"):
            statement += _alter_options(_options(old), _options(new), _plain_literal)
        statements.append(statement)
    return statements


def _server_delete(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLServerDelete: RESTRICT unless `dropCascade` (CASCADE also drops its user
    mappings and foreign tables)."""
    mode = "CASCADE" if _plain(inputs, "dropCascade") else "RESTRICT"
    return [f"DROP SERVER {quote_ident(_text(inputs, 'serverName'))} {mode} "]


def _mapping_target(inputs: Mapping[str, Any]) -> str:
    return f"FOR {quote_ident(_text(inputs, 'userName'))} SERVER {quote_ident(_text(inputs, 'serverName'))}"


def _user_mapping_create(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLUserMappingCreate: db.Exec, no transaction, on the provider's database."""
    options = _options_clause(_options(inputs), _mapping_literal(resource, ctx))
    return ["CREATE USER MAPPING  " + _mapping_target(inputs) + options]


def _user_mapping_update(resource: Resource, old: dict[str, Any], new: dict[str, Any], ctx: ServerContext) -> list[str]:
    """setUserMappingOptionsIfChanged (user and server are ForceNew)."""
    if not _changed(old, new, "options"):
        return []
    options = _alter_options(_options(old), _options(new), _mapping_literal(resource, ctx))
    return [f"ALTER USER MAPPING  {_mapping_target(new)} " + options]


def _user_mapping_delete(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLUserMappingDelete: in a transaction."""
    return [f"DROP USER MAPPING {_mapping_target(inputs)} "]


def _mysql_name(resource: Resource, key: str, value: str, forbidden: str) -> str:
    """v1.9.0 interpolates names without escaping them: a name holding `forbidden` breaks the statement."""
    if any(character in value for character in forbidden):
        raise _unsupported(resource, key, value)
    return value


def _mysql_quote_ident(value: str) -> str:
    """provider.go quoteIdentifier (identQuoteReplacer doubles backquotes)."""
    return "`" + value.replace("`", "``") + "`"


def _mysql_account(resource: Resource, inputs: Mapping[str, Any]) -> str:
    user = _mysql_name(resource, "user", _text(inputs, "user"), "'\\")
    host = _mysql_name(resource, "host", _text(inputs, "host"), "'\\")
    return f"'{user}'@'{host}'"


def _mysql_database_sql(verb: str, inputs: Mapping[str, Any]) -> str:
    """resource_database.go databaseConfigSQL (spaces kept where a clause is empty)."""
    charset, collation = _text(inputs, "defaultCharacterSet"), _text(inputs, "defaultCollation")
    charset_clause = f"CHARACTER SET {_mysql_quote_ident(charset)}" if charset else ""
    collation_clause = f"COLLATE {_mysql_quote_ident(collation)}" if collation else ""
    return f"{verb} DATABASE {_mysql_quote_ident(_text(inputs, 'name'))} {charset_clause} {collation_clause}"


def _mysql_database_create(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """CreateDatabase: a plain CREATE DATABASE (fails if it exists)."""
    return [_mysql_database_sql("CREATE", inputs)]


def _mysql_database_update(_r: Resource, _old: dict[str, Any], new: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """UpdateDatabase: ALTER DATABASE with both clauses."""
    return [_mysql_database_sql("ALTER", new)]


def _mysql_database_delete(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """DeleteDatabase."""
    return [f"DROP DATABASE {_mysql_quote_ident(_text(inputs, 'name'))}"]


def _mysql_user_create(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """CreateUser: a plain CREATE USER ... IDENTIFIED BY '<password>' (unescaped) REQUIRE <tls>
    (server version > 5.7.0: MySQL 5.7+, MariaDB)."""
    password = ctx.password_sql(resource, inputs["plaintextPassword"])
    statement = f"CREATE USER {_mysql_account(resource, inputs)} IDENTIFIED BY {password}"
    tls = _text(inputs, "tlsOption")
    return [statement + (f" REQUIRE {tls}" if tls else "")]


def _mysql_user_update(resource: Resource, old: dict[str, Any], new: dict[str, Any], ctx: ServerContext) -> list[str]:
    """UpdateUser: ALTER USER ... IDENTIFIED BY when the password changed (server >= 5.7.6); every
    other input forces a replacement."""
    if not _changed(old, new, "plaintextPassword"):
        return []
    password = ctx.password_sql(resource, new["plaintextPassword"])
    return [f"ALTER USER {_mysql_account(resource, new)} IDENTIFIED BY {password}"]


def _mysql_user_delete(resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """DeleteUser."""
    return [f"DROP USER {_mysql_account(resource, inputs)}"]


def _mysql_grant_on(resource: Resource, inputs: Mapping[str, Any]) -> str:
    """formatDatabaseName / formatTableName: backquoted, not escaped."""
    database = _mysql_name(resource, "database", _text(inputs, "database"), "`")
    table = _mysql_name(resource, "table", _text(inputs, "table"), "`")
    database_sql = database if database == "*" else f"`{database}`"
    return f"{database_sql}.{'*' if table in ('', '*') else f'`{table}`'}"


def _mysql_grant_create(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """CreateGrant: the privileges exactly as given (no normalization), in set order."""
    privileges = set_order(_strings(inputs, "privileges"))
    if not privileges:
        raise _unsupported(resource, "privileges", [])
    statement = (
        f"GRANT {', '.join(privileges)} ON {_mysql_grant_on(resource, inputs)} TO {_mysql_account(resource, inputs)}"
    )
    if not ctx.mysql_roles_supported:
        tls = _text(inputs, "tlsOption")
        statement += f" REQUIRE {tls}" if tls else ""
        statement += " WITH GRANT OPTION" if _plain(inputs, "grant") else ""
    return [statement]


def _mysql_grant_delete(resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """DeleteGrant: REVOKE GRANT OPTION, then the privileges (ALL when none are listed)."""
    on, account = _mysql_grant_on(resource, inputs), _mysql_account(resource, inputs)
    privileges = set_order(_strings(inputs, "privileges"))
    what = f"{', '.join(privileges)} ON {on}" if privileges else f"ALL ON {on}"
    return [f"REVOKE GRANT OPTION ON {on} FROM {account}", f"REVOKE {what} FROM {account}"]


# The dynamic SQL script -- components/sql_script.py ---------------------------------------------


def _script(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """_SqlScriptProvider.create / update: `sql` as one transaction."""
    return [str(unwrap_secrets(inputs["sql"]))]


def _script_update(_r: Resource, _old: dict[str, Any], new: dict[str, Any], ctx: ServerContext) -> list[str]:
    return _script(_r, new, ctx)


def _nothing(_resource: Resource, _inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """_SqlScriptProvider.delete: the objects stay."""
    return []


# The table of operations ------------------------------------------------------------------------

_Build = Callable[[Resource, dict[str, Any], ServerContext], list[str]]
_Update = Callable[[Resource, dict[str, Any], dict[str, Any], ServerContext], list[str]]


@dataclass(frozen=True)
class _Lifecycle:
    create: _Build
    update: _Update | None
    """None: the provider has no Update (every input forces a replacement)."""
    delete: _Build
    replace_keys: frozenset[str]
    """Inputs marked ForceNew upstream, in wire (camelCase) names."""
    transaction: bool = True
    database: Callable[[Resource, dict[str, Any], ServerContext], str | None] = lambda _r, _inputs, _ctx: None
    """The database the statements run in; None: the provider's own (`ServerContext.provider_database`)."""
    delete_transaction: bool | None = None
    """Where Delete differs from Create and Update: whether it runs in a transaction."""


def _named_database(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> str | None:
    return _text(inputs, "database")


def _provider_database(resource: Resource, _inputs: dict[str, Any], ctx: ServerContext) -> str | None:
    """`startTransaction(db.client, "")` / `db.Exec`: the database of the resource's own provider."""
    return ctx.database_of_provider(resource.provider)


_LIFECYCLES: dict[str, _Lifecycle] = {
    PG_ROLE: _Lifecycle(_role_create, _role_update, _role_delete, frozenset()),
    PG_GRANT: _Lifecycle(
        _grant_create, _grant_update, _grant_delete,
        frozenset({"role", "database", "schema", "objectType", "objects", "columns", "withGrantOption"}),
        database=_named_database,
    ),
    PG_DEFAULT_PRIVILEGES: _Lifecycle(
        _default_privileges_create, _default_privileges_update, _default_privileges_delete,
        frozenset({"role", "database", "owner", "schema", "objectType", "withGrantOption"}),
        database=_named_database,
    ),
    PG_SCHEMA: _Lifecycle(
        _schema_create, _schema_update, _schema_delete, frozenset({"database"}),
        database=lambda _resource, inputs, ctx: _schema_database(inputs, ctx),
    ),
    PG_GRANT_ROLE: _Lifecycle(
        _grant_role_create, None, _grant_role_delete, frozenset({"role", "grantRole", "withAdminOption"})
    ),
    # CREATE/DROP DATABASE run outside a transaction (db.Exec)
    PG_DATABASE: _Lifecycle(
        _database_create, _database_update, _database_delete,
        frozenset({"template", "encoding", "lcCollate", "lcCtype"}), transaction=False,
    ),
    # Create and Delete only: `name` is ForceNew, there is no Update.
    PG_PHYSICAL_SLOT: _Lifecycle(
        _physical_slot_create, None, _physical_slot_delete, frozenset({"name"}), transaction=False
    ),
    PG_EXTENSION: _Lifecycle(
        _extension_create, _extension_update, _extension_delete, frozenset({"name", "database"}),
        database=_extension_database,
    ),
    PG_FOREIGN_SERVER: _Lifecycle(
        _server_create, _server_update, _server_delete, frozenset({"serverType", "fdwName"}),
        database=_provider_database,
    ),
    # Create and Update run `db.Exec` (no transaction), Delete a transaction.
    PG_USER_MAPPING: _Lifecycle(
        _user_mapping_create, _user_mapping_update, _user_mapping_delete, frozenset({"userName", "serverName"}),
        transaction=False, database=_provider_database, delete_transaction=True,
    ),
    MYSQL_DATABASE: _Lifecycle(
        _mysql_database_create, _mysql_database_update, _mysql_database_delete, frozenset({"name"}), transaction=False
    ),
    MYSQL_USER: _Lifecycle(
        _mysql_user_create, _mysql_user_update, _mysql_user_delete,
        frozenset({"user", "host", "authPlugin", "tlsOption"}), transaction=False,
    ),
    MYSQL_GRANT: _Lifecycle(
        _mysql_grant_create, None, _mysql_grant_delete,
        frozenset({"user", "role", "host", "database", "table", "privileges", "roles", "grant", "tlsOption"}),
        transaction=False,
    ),
    DYNAMIC_RESOURCE: _Lifecycle(_script, _script_update, _nothing, frozenset(), database=_named_database),
}  # fmt: skip


def _lifecycle(resource_type: str) -> _Lifecycle:
    lifecycle = _LIFECYCLES.get(resource_type)
    if lifecycle is None:
        raise UnsupportedResourceError(f"no SQL model for {resource_type}")
    return lifecycle


def runs_sql(resource_type: str) -> bool:
    """Whether resources of this type run SQL: every postgresql/mysql resource and the SQL script.
    (A type among those without a model here raises `UnsupportedResourceError` when asked for.)"""
    return resource_type.startswith((POSTGRESQL_PREFIX, MYSQL_PREFIX)) or resource_type == DYNAMIC_RESOURCE


def replace_keys(resource_type: str) -> frozenset[str]:
    """The inputs whose change replaces the resource (ForceNew upstream), in wire names.

    For the dynamic SQL script, its provider's `diff` decides (components/sql_script.py).
    """
    return _lifecycle(resource_type).replace_keys


def has_update(resource_type: str) -> bool:
    """False where the provider has no Update: any change is a replacement."""
    return _lifecycle(resource_type).update is not None


def _step(
    resource: Resource, inputs: dict[str, Any], ctx: ServerContext, statements: list[str], operation: str
) -> list[SqlStep]:
    if not statements:
        return []
    lifecycle = _lifecycle(resource.type)
    database = lifecycle.database(resource, inputs, ctx) if ctx.engine == "postgresql" else None
    label = f"{short_type(resource.type)} {resource.name}"
    transaction = lifecycle.transaction
    if operation == "delete" and lifecycle.delete_transaction is not None:
        transaction = lifecycle.delete_transaction
    return [SqlStep(label, resource.urn, database, tuple(statements), transaction, operation)]


def create_steps(resource: Resource, ctx: ServerContext) -> list[SqlStep]:
    """What the provider runs to create `resource` (empty for resources that run no SQL).

    No existence checks beyond the provider's own: a role, database or user that exists makes it fail.
    An imported resource (`import_` option) runs no SQL: the engine reads the existing object.
    """
    if not runs_sql(resource.type) or resource.import_id:
        return []
    inputs = inputs_of(resource)
    return _step(resource, inputs, ctx, _lifecycle(resource.type).create(resource, inputs, ctx), "create")


def update_steps(old: Resource, new: Resource, ctx: ServerContext) -> list[SqlStep]:
    """What the provider's Update runs to take `old` (deployed inputs) to `new`.

    Only for a change without replacement (see `replace_keys`); empty when the provider runs
    nothing for it. `ctx` describes the server as `old` left it (Role updates revoke
    `ctx.memberships`). Raises `UnsupportedResourceError` for a type without Update.
    """
    if not runs_sql(new.type):
        return []
    lifecycle = _lifecycle(new.type)
    if lifecycle.update is None:
        raise UnsupportedResourceError(f"{new.name}: {short_type(new.type)} has no update; a change replaces it")
    before, after = inputs_of(old), inputs_of(new)
    return _step(new, after, ctx, lifecycle.update(new, before, after, ctx), "update")


def delete_steps(resource: Resource, ctx: ServerContext) -> list[SqlStep]:
    """What the provider runs to delete `resource` (its inputs as deployed)."""
    if not runs_sql(resource.type):
        return []
    inputs = inputs_of(resource)
    return _step(resource, inputs, ctx, _lifecycle(resource.type).delete(resource, inputs, ctx), "delete")


# Context from a capture -------------------------------------------------------------------------


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    return str(unwrap_secrets(value)).lower() == "true"


def server_context(plan: Plan, server: str, secrets: SecretStyle = SecretStyle.VALUES) -> ServerContext:
    """The context of `server` as the captured stack leaves it deployed.

    Admin and its superuser flag from the server's provider; memberships from the Roles' `roles`
    and the GrantRoles; schema and database owners from the Schemas and Databases.
    """
    provider = plan.provider_of_server(server)
    settings = unwrap_secrets(provider.inputs)
    if provider.type == MYSQL_PROVIDER:
        return ServerContext(
            server=server, engine="mysql", admin_user=str(settings.get("username") or "root"), secrets=secrets
        )
    memberships: dict[str, list[str]] = {}
    schema_owners: dict[tuple[str, str], str] = {}
    database_owners: dict[str, str] = {}
    provider_database = str(settings.get("database") or "postgres")
    provider_databases: dict[str, str] = {}
    for resource in plan.on_server(server):
        if resource.type == POSTGRES_PROVIDER:
            provider_databases[resource.urn] = str(unwrap_secrets(resource.inputs).get("database") or "postgres")
        inputs = unwrap_secrets(resource.inputs)
        if resource.type == PG_ROLE:
            memberships.setdefault(str(inputs["name"]), []).extend(set_order(str(r) for r in inputs.get("roles") or []))
        elif resource.type == PG_GRANT_ROLE:
            memberships.setdefault(str(inputs["role"]), []).append(str(inputs["grantRole"]))
        elif resource.type == PG_SCHEMA and inputs.get("owner"):
            schema_owners[(str(inputs.get("database") or provider_database), str(inputs["name"]))] = str(
                inputs["owner"]
            )
        elif resource.type == PG_DATABASE and inputs.get("owner"):
            database_owners[str(inputs["name"])] = str(inputs["owner"])
    return ServerContext(
        server=server,
        engine="postgresql",
        admin_user=str(settings.get("username") or "postgres"),
        admin_is_superuser=_flag(settings.get("superuser"), True),
        provider_database=provider_database,
        memberships={role: tuple(dict.fromkeys(groups)) for role, groups in memberships.items()},
        schema_owners=schema_owners,
        database_owners=database_owners,
        secrets=secrets,
        provider_databases=provider_databases,
    )


def with_secrets(ctx: ServerContext, secrets: SecretStyle) -> ServerContext:
    """The same context with passwords shown another way."""
    return dataclasses.replace(ctx, secrets=secrets)


def password_resources(plan: Plan, server: str) -> list[Resource]:
    """The server's resources that set a password (Roles with one, MySQL users, user mappings), in creation order."""
    found = []
    for resource in plan.on_server(server):
        if isinstance(password_input(resource), Secret):
            found.append(resource)
    return found
