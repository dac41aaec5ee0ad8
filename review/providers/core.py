"""The model's vocabulary: a step, the server context a provider acts in, how secrets appear, the
resource's inputs, and what a resource type runs (`Lifecycle`). Shared by every provider module."""

from __future__ import annotations

import enum
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from resource_types import (
    MYSQL_USER,
    PG_ROLE,
    PG_USER_MAPPING,
)
from review.capture.program import Resource, Secret, unwrap_secrets

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


REQUIRED = object()


def value_of(inputs: Mapping[str, Any], key: str) -> Any:
    return unwrap_secrets(inputs[key])


def text_of(inputs: Mapping[str, Any], key: str) -> str:
    return str(value_of(inputs, key))


def strings_of(inputs: Mapping[str, Any], key: str) -> list[str]:
    return [str(item) for item in value_of(inputs, key) or []]


def set_order(items: Iterable[str]) -> list[str]:
    """The order terraform-plugin-sdk's `schema.Set.List()` yields a `HashString` set in: by the
    decimal text of each item's CRC-32 (`hashcode.String`), compared as strings."""
    return sorted(dict.fromkeys(items), key=lambda item: str(zlib.crc32(item.encode())))


def unsupported(resource: Resource, key: str, value: Any) -> UnsupportedResourceError:
    return UnsupportedResourceError(f"{resource.name}: {key}={value!r} is not modelled")


def has_change(old: Mapping[str, Any], new: Mapping[str, Any], key: str) -> bool:
    """terraform's `d.HasChange`: the values (defaults filled, secrets unwrapped) differ."""
    before: Any = unwrap_secrets(old.get(key))
    after: Any = unwrap_secrets(new.get(key))
    if key in SET_INPUTS:  # TypeSet: order does not count
        return set(before or []) != set(after or [])
    return bool(before != after)


SET_INPUTS = frozenset({"roles", "privileges", "objects"})


Build = Callable[[Resource, dict[str, Any], ServerContext], list[str]]
BuildUpdate = Callable[[Resource, dict[str, Any], dict[str, Any], ServerContext], list[str]]


@dataclass(frozen=True)
class Lifecycle:
    """What one resource type runs, as its provider's source does."""

    create: Build
    update: BuildUpdate | None
    """None: the provider has no Update (every input forces a replacement)."""
    delete: Build
    replace_keys: frozenset[str]
    """Inputs marked ForceNew upstream, in wire (camelCase) names."""
    transaction: bool = True
    database: Callable[[Resource, dict[str, Any], ServerContext], str | None] = lambda _r, _inputs, _ctx: None
    """The database the statements run in; None: the provider's own (`ServerContext.provider_database`)."""
    delete_transaction: bool | None = None
    """Where Delete differs from Create and Update: whether it runs in a transaction."""


def named_database(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> str | None:
    return text_of(inputs, "database")


def own_provider_database(resource: Resource, _inputs: dict[str, Any], ctx: ServerContext) -> str | None:
    """`startTransaction(db.client, "")` / `db.Exec`: the database of the resource's own provider."""
    return ctx.database_of_provider(resource.provider)
