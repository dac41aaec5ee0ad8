"""mysql:Database, mysql:User and mysql:Grant: hashicorp/terraform-provider-mysql v1.9.0 (bridged by
pulumi-mysql 3.3), `mysql/resource_database.go`, `resource_user.go`, `resource_grant.go`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resource_types import (
    MYSQL_DATABASE,
    MYSQL_GRANT,
    MYSQL_USER,
)
from review.capture.program import Resource
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


def _mysql_name(resource: Resource, key: str, value: str, forbidden: str) -> str:
    """v1.9.0 interpolates names without escaping them: a name holding `forbidden` breaks the statement."""
    if any(character in value for character in forbidden):
        raise unsupported(resource, key, value)
    return value


def _mysql_quote_ident(value: str) -> str:
    """provider.go quoteIdentifier (identQuoteReplacer doubles backquotes)."""
    return "`" + value.replace("`", "``") + "`"


def _mysql_account(resource: Resource, inputs: Mapping[str, Any]) -> str:
    user = _mysql_name(resource, "user", text_of(inputs, "user"), "'\\")
    host = _mysql_name(resource, "host", text_of(inputs, "host"), "'\\")
    return f"'{user}'@'{host}'"


def _mysql_database_sql(verb: str, inputs: Mapping[str, Any]) -> str:
    """resource_database.go databaseConfigSQL (spaces kept where a clause is empty)."""
    charset, collation = text_of(inputs, "defaultCharacterSet"), text_of(inputs, "defaultCollation")
    charset_clause = f"CHARACTER SET {_mysql_quote_ident(charset)}" if charset else ""
    collation_clause = f"COLLATE {_mysql_quote_ident(collation)}" if collation else ""
    return f"{verb} DATABASE {_mysql_quote_ident(text_of(inputs, 'name'))} {charset_clause} {collation_clause}"


def _mysql_database_create(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """CreateDatabase: a plain CREATE DATABASE (fails if it exists)."""
    return [_mysql_database_sql("CREATE", inputs)]


def _mysql_database_update(_r: Resource, _old: dict[str, Any], new: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """UpdateDatabase: ALTER DATABASE with both clauses."""
    return [_mysql_database_sql("ALTER", new)]


def _mysql_database_delete(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """DeleteDatabase."""
    return [f"DROP DATABASE {_mysql_quote_ident(text_of(inputs, 'name'))}"]


def _mysql_user_create(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """CreateUser: a plain CREATE USER ... IDENTIFIED BY '<password>' (unescaped) REQUIRE <tls>
    (server version > 5.7.0: MySQL 5.7+, MariaDB)."""
    password = ctx.password_sql(resource, inputs["plaintextPassword"])
    statement = f"CREATE USER {_mysql_account(resource, inputs)} IDENTIFIED BY {password}"
    tls = text_of(inputs, "tlsOption")
    return [statement + (f" REQUIRE {tls}" if tls else "")]


def _mysql_user_update(resource: Resource, old: dict[str, Any], new: dict[str, Any], ctx: ServerContext) -> list[str]:
    """UpdateUser: ALTER USER ... IDENTIFIED BY when the password changed (server >= 5.7.6); every
    other input forces a replacement."""
    if not has_change(old, new, "plaintextPassword"):
        return []
    password = ctx.password_sql(resource, new["plaintextPassword"])
    return [f"ALTER USER {_mysql_account(resource, new)} IDENTIFIED BY {password}"]


def _mysql_user_delete(resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """DeleteUser."""
    return [f"DROP USER {_mysql_account(resource, inputs)}"]


def _mysql_grant_on(resource: Resource, inputs: Mapping[str, Any]) -> str:
    """formatDatabaseName / formatTableName: backquoted, not escaped."""
    database = _mysql_name(resource, "database", text_of(inputs, "database"), "`")
    table = _mysql_name(resource, "table", text_of(inputs, "table"), "`")
    database_sql = database if database == "*" else f"`{database}`"
    return f"{database_sql}.{'*' if table in ('', '*') else f'`{table}`'}"


def _mysql_grant_create(resource: Resource, inputs: dict[str, Any], ctx: ServerContext) -> list[str]:
    """CreateGrant: the privileges exactly as given (no normalization), in set order."""
    privileges = set_order(strings_of(inputs, "privileges"))
    if not privileges:
        raise unsupported(resource, "privileges", [])
    statement = (
        f"GRANT {', '.join(privileges)} ON {_mysql_grant_on(resource, inputs)} TO {_mysql_account(resource, inputs)}"
    )
    if not ctx.mysql_roles_supported:
        tls = text_of(inputs, "tlsOption")
        statement += f" REQUIRE {tls}" if tls else ""
        statement += " WITH GRANT OPTION" if value_of(inputs, "grant") else ""
    return [statement]


def _mysql_grant_delete(resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """DeleteGrant: REVOKE GRANT OPTION, then the privileges (ALL when none are listed)."""
    on, account = _mysql_grant_on(resource, inputs), _mysql_account(resource, inputs)
    privileges = set_order(strings_of(inputs, "privileges"))
    what = f"{', '.join(privileges)} ON {on}" if privileges else f"ALL ON {on}"
    return [f"REVOKE GRANT OPTION ON {on} FROM {account}", f"REVOKE {what} FROM {account}"]


KNOWN_INPUTS: dict[str, dict[str, Any]] = {
    # v1.9.0 mysql/resource_database.go resourceDatabase
    MYSQL_DATABASE: {"name": REQUIRED, "defaultCharacterSet": "utf8", "defaultCollation": "utf8_general_ci"},
    # v1.9.0 mysql/resource_user.go resourceUser
    MYSQL_USER: {"user": REQUIRED, "host": "localhost", "plaintextPassword": "", "tlsOption": "NONE"},
    # v1.9.0 mysql/resource_grant.go resourceGrant
    MYSQL_GRANT: {
        "user": REQUIRED, "host": "localhost", "database": REQUIRED, "table": "*", "privileges": REQUIRED,
        "grant": False, "tlsOption": "NONE",
    },
}  # fmt: skip
"""Each type's inputs with its schema defaults (`REQUIRED`: none), as upstream declares them."""

LIFECYCLES: dict[str, Lifecycle] = {
    MYSQL_DATABASE: Lifecycle(
        _mysql_database_create, _mysql_database_update, _mysql_database_delete, frozenset({"name"}), transaction=False
    ),
    MYSQL_USER: Lifecycle(
        _mysql_user_create, _mysql_user_update, _mysql_user_delete,
        frozenset({"user", "host", "authPlugin", "tlsOption"}), transaction=False,
    ),
    MYSQL_GRANT: Lifecycle(
        _mysql_grant_create, None, _mysql_grant_delete,
        frozenset({"user", "role", "host", "database", "table", "privileges", "roles", "grant", "tlsOption"}),
        transaction=False,
    ),
}  # fmt: skip
