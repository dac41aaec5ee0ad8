"""The SQL a server's database resources run, derived from the captured resources.

Each `pulumi_postgresql` / `pulumi_mysql` resource (and each dynamic resource running its own
`sql`) becomes one `SqlStep`, following what the provider executes on create (see the provider
notes: Grant revokes before it grants, DefaultPrivileges likewise, Schema adopts an existing one).
Steps come in dependency order (ties broken by kind, then name, so the script is the same on
every run; registration order is not). Where the provider's statement cannot be re-run
(CREATE ROLE, CREATE DATABASE, CREATE USER), the step is written so that a second run succeeds
and leaves the server as it was, so the script doubles as a repair tool.

`sql_steps` is for programs (apply each step with psycopg, autocommit); `render_sql` joins the
steps into a psql script (`\\connect` and `\\gexec` on lines of their own).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from review.capture import Capture, Resource, Secret, unwrap_secrets
from review.graph import (
    DYNAMIC_RESOURCE,
    creation_order,
    provider_of_server,
    server_components,
    server_of,
    short_type,
)
from topology.sql import quote_ident, quote_literal, quote_mysql_ident, quote_mysql_literal

MASK = "[secret]"

PG = "postgresql:index/"
MYSQL = "mysql:index/"


class UnsupportedResourceError(ValueError):
    """A database resource whose SQL this renderer does not know."""


@dataclass(frozen=True)
class SqlStep:
    """What one resource runs: statements executed together, on one database."""

    resource: str
    """`<short type> <name>` of the resource, e.g. `postgresql:Grant main-madansara_read-tables`."""
    urn: str
    """URN of the resource."""
    database: str | None
    """The database to connect to; None for server-wide statements (roles, memberships, databases,
    and every MySQL statement), which run in whichever database the session is connected to."""
    statements: tuple[str, ...]
    """In order; several statements run in one transaction, as the provider runs them."""
    skip_if: str | None = None
    """A query: when it returns a row, the step is skipped (CREATE DATABASE cannot be guarded inside
    SQL, as it cannot run in a transaction or a DO block)."""
    transaction: bool = False
    """Whether the statements run in one transaction (executing `sql` as one query does that)."""

    @property
    def sql(self) -> str:
        """The statements as one string (a multi-statement simple query runs in one transaction)."""
        return "\n".join(_terminated(statement) for statement in self.statements)


def _terminated(statement: str) -> str:
    text = statement.rstrip()
    return text if text.endswith(";") else text + ";"


@dataclass(frozen=True)
class _Context:
    """What every statement builder needs."""

    resource: Resource
    inputs: dict[str, Any]
    """The resource's inputs, each secret shown or masked as asked."""
    provider_database: str
    """The database the server's provider connects to (a Schema without `database` goes there)."""
    admin_user: str
    """The role the provider connects as (owner of the databases it creates without an owner)."""

    def step(
        self, database: str | None, *statements: str, skip_if: str | None = None, transaction: bool = False
    ) -> SqlStep:
        label = f"{short_type(self.resource.type)} {self.resource.name}"
        return SqlStep(label, self.resource.urn, database, statements, skip_if, transaction or len(statements) > 1)


# PostgreSQL ----------------------------------------------------------------------------------


def _dollar_quote(body: str, tag: str = "do") -> str:
    """`$tag$body$tag$` with a tag that does not occur in the body, so nothing in it needs escaping."""
    candidate, counter = f"${tag}$", 0
    while candidate in body:
        counter += 1
        candidate = f"${tag}{counter}$"
    return f"{candidate}\n{body}{candidate}"


def _role_options(context: _Context) -> str:
    """The provider's fixed option order: password, validity, connection limit, then every flag."""
    inputs = context.inputs
    options: list[str] = []
    if inputs.get("password") is not None:
        # A standard-conforming literal; the provider's own quoting doubles backslashes (a quirk that
        # changes such passwords). Generated passwords have no backslash, so both agree.
        options.append(f"ENCRYPTED PASSWORD {quote_literal(str(inputs['password']))}")
    options.append(f"VALID UNTIL {quote_literal(str(inputs.get('validUntil') or 'infinity'))}")
    options.append(f"CONNECTION LIMIT {int(inputs.get('connectionLimit', -1))}")
    flags = (
        ("superuser", "SUPERUSER", False),
        ("createDatabase", "CREATEDB", False),
        ("createRole", "CREATEROLE", False),
        ("inherit", "INHERIT", True),
        ("login", "LOGIN", False),
        ("bypassRowLevelSecurity", "BYPASSRLS", False),
        ("replication", "REPLICATION", False),
    )
    for key, keyword, default in flags:
        options.append(keyword if inputs.get(key, default) else "NO" + keyword)
    return " ".join(options)


_ROLE_SETTINGS = (
    ("statementTimeout", "statement_timeout"),
    ("idleInTransactionSessionTimeout", "idle_in_transaction_session_timeout"),
)


def _pg_role(context: _Context) -> SqlStep:
    name = str(context.inputs["name"])
    role = quote_ident(name)
    options = _role_options(context)
    # CREATE ROLE has no IF NOT EXISTS: create it once, and on a re-run set the same attributes again.
    body = (
        "BEGIN\n"
        f"    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {quote_literal(name)}) THEN\n"
        f"        CREATE ROLE {role} WITH {options};\n"
        "    ELSE\n"
        f"        ALTER ROLE {role} WITH {options};\n"
        "    END IF;\n"
        "END\n"
    )
    statements = [f"DO {_dollar_quote(body)}"]
    statements += [f"GRANT {quote_ident(str(group))} TO {role}" for group in context.inputs.get("roles") or []]
    search_path = [str(schema) for schema in context.inputs.get("searchPaths") or []]
    statements.append(
        f"ALTER ROLE {role} SET search_path TO {', '.join(map(quote_ident, search_path))}"
        if search_path
        else f"ALTER ROLE {role} SET search_path TO DEFAULT"
    )
    for key, setting in _ROLE_SETTINGS:
        if context.inputs.get(key) is not None:
            statements.append(f"ALTER ROLE {role} SET {setting} TO {int(context.inputs[key])}")
    if context.inputs.get("assumeRole"):
        statements.append(f"ALTER ROLE {role} SET ROLE TO {quote_ident(str(context.inputs['assumeRole']))}")
    return context.step(None, *statements)


_OBJECT_KEYWORDS = {
    "table": ("TABLE", "TABLES"),
    "sequence": ("SEQUENCE", "SEQUENCES"),
    "function": ("FUNCTION", "FUNCTIONS"),
    "procedure": ("PROCEDURE", "PROCEDURES"),
    "routine": ("ROUTINE", "ROUTINES"),
}


def _qualified(schema: str, name: str) -> str:
    """`"schema"."name"`, keeping a routine's trailing `(argument types)` unquoted as the provider does."""
    base, parenthesis, arguments = name.partition("(")
    return f"{quote_ident(schema)}.{quote_ident(base)}{parenthesis}{arguments}"


def _grant_target(context: _Context) -> str:
    inputs = context.inputs
    object_type = str(inputs["objectType"])
    if object_type == "database":
        return f"DATABASE {quote_ident(str(inputs['database']))}"
    schema = str(inputs["schema"])
    if object_type == "schema":
        return f"SCHEMA {quote_ident(schema)}"
    if object_type not in _OBJECT_KEYWORDS:
        raise UnsupportedResourceError(f"{context.resource.name}: no SQL for a Grant on {object_type!r} objects")
    singular, plural = _OBJECT_KEYWORDS[object_type]
    objects = [str(name) for name in inputs.get("objects") or []]
    if not objects:
        return f"ALL {plural} IN SCHEMA {quote_ident(schema)}"
    return f"{singular} " + ",".join(_qualified(schema, name) for name in objects)


def _pg_grant(context: _Context) -> SqlStep:
    inputs = context.inputs
    grantee = quote_ident(str(inputs["role"]))  # "public" spells PUBLIC
    privileges = [str(p) for p in inputs.get("privileges") or []]
    target = _grant_target(context)
    # The provider revokes everything for (role, database, schema, type) first; with listed
    # objects it revokes only the listed privileges.
    revoked = ",".join(privileges) if inputs.get("objects") and privileges else "ALL PRIVILEGES"
    statements = [f"REVOKE {revoked} ON {target} FROM {grantee}"]
    if privileges:
        grant_option = " WITH GRANT OPTION" if inputs.get("withGrantOption") else ""
        statements.append(f"GRANT {','.join(privileges)} ON {target} TO {grantee}{grant_option}")
    return context.step(str(inputs["database"]), *statements)


def _pg_default_privileges(context: _Context) -> SqlStep:
    inputs = context.inputs
    owner = quote_ident(str(inputs["owner"]))
    grantee = quote_ident(str(inputs["role"]))
    objects = str(inputs["objectType"]).upper() + "S"
    schema = inputs.get("schema")
    scope = f"FOR ROLE {owner}" + (f" IN SCHEMA {quote_ident(str(schema))}" if schema else "")
    statements = [f"ALTER DEFAULT PRIVILEGES {scope} REVOKE ALL ON {objects} FROM {grantee}"]
    privileges = [str(p) for p in inputs.get("privileges") or []]
    if privileges:
        grant_option = " WITH GRANT OPTION" if inputs.get("withGrantOption") else ""
        statements.append(
            f"ALTER DEFAULT PRIVILEGES {scope} GRANT {','.join(privileges)} ON {objects} TO {grantee}{grant_option}"
        )
    return context.step(str(inputs["database"]), *statements)


def _pg_schema(context: _Context) -> SqlStep:
    inputs = context.inputs
    schema = quote_ident(str(inputs["name"]))
    owner = inputs.get("owner")
    database = str(inputs.get("database") or context.provider_database)
    # The provider adopts an existing schema (and only sets its owner), so IF NOT EXISTS always.
    if not owner:
        return context.step(database, f"CREATE SCHEMA IF NOT EXISTS {schema}")
    owner_ident = quote_ident(str(owner))
    return context.step(
        database,
        f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {owner_ident}",
        f"ALTER SCHEMA {schema} OWNER TO {owner_ident}",
    )


def _pg_grant_role(context: _Context) -> SqlStep:
    inputs = context.inputs
    group = quote_ident(str(inputs["grantRole"]))
    member = quote_ident(str(inputs["role"]))
    admin_option = " WITH ADMIN OPTION" if inputs.get("withAdminOption") else ""
    return context.step(
        None,
        f"REVOKE {group} FROM {member}",
        f"GRANT {group} TO {member}{admin_option}",
    )


def _pg_database(context: _Context) -> list[SqlStep]:
    inputs = context.inputs
    name = str(inputs["name"])
    owner = str(inputs.get("owner") or context.admin_user)
    template = str(inputs.get("template") or "template0")
    parts = [
        f"CREATE DATABASE {quote_ident(name)} OWNER {quote_ident(owner)}",
        "TEMPLATE DEFAULT" if template.upper() == "DEFAULT" else f"TEMPLATE {quote_ident(template)}",
        f"ENCODING {quote_literal(str(inputs.get('encoding') or 'UTF8'))}",
    ]
    for key, keyword in (("lcCollate", "LC_COLLATE"), ("lcCtype", "LC_CTYPE")):
        if inputs.get(key):
            parts.append(f"{keyword} {quote_literal(str(inputs[key]))}")
    if inputs.get("tablespaceName"):
        parts.append(f"TABLESPACE {quote_ident(str(inputs['tablespaceName']))}")
    parts.append(f"ALLOW_CONNECTIONS {'true' if inputs.get('allowConnections', True) else 'false'}")
    parts.append(f"CONNECTION LIMIT {int(inputs.get('connectionLimit', -1))}")
    parts.append(f"IS_TEMPLATE {'true' if inputs.get('isTemplate', False) else 'false'}")
    exists = f"SELECT FROM pg_catalog.pg_database WHERE datname = {quote_literal(name)}"
    steps = [context.step(None, " ".join(parts), skip_if=exists)]
    if inputs.get("owner"):
        # On a re-run the database exists already: keep its owner as declared.
        steps.append(context.step(None, f"ALTER DATABASE {quote_ident(name)} OWNER TO {quote_ident(owner)}"))
    return steps


def _dynamic(context: _Context) -> SqlStep:
    # Run exactly as given, in one transaction, as the dynamic provider does.
    return context.step(str(context.inputs["database"]), str(context.inputs["sql"]), transaction=True)


# MySQL ----------------------------------------------------------------------------------------


def _mysql_account(inputs: dict[str, Any]) -> str:
    return f"{quote_mysql_literal(str(inputs['user']))}@{quote_mysql_literal(str(inputs.get('host') or 'localhost'))}"


def _mysql_database(context: _Context) -> list[SqlStep]:
    inputs = context.inputs
    name = quote_mysql_ident(str(inputs["name"]))
    charset = quote_mysql_ident(str(inputs.get("defaultCharacterSet") or "utf8mb4"))
    collation = quote_mysql_ident(str(inputs.get("defaultCollation") or "utf8mb4_general_ci"))
    return [
        context.step(None, f"CREATE DATABASE IF NOT EXISTS {name} CHARACTER SET {charset} COLLATE {collation}"),
        # An existing database keeps the declared character set on a re-run.
        context.step(None, f"ALTER DATABASE {name} CHARACTER SET {charset} COLLATE {collation}"),
    ]


def _mysql_user(context: _Context) -> list[SqlStep]:
    inputs = context.inputs
    if inputs.get("authPlugin"):
        raise UnsupportedResourceError(f"{context.resource.name}: MySQL users with authPlugin are not rendered")
    account = _mysql_account(inputs)
    password = inputs.get("plaintextPassword", inputs.get("password"))
    identified = f" IDENTIFIED BY {quote_mysql_literal(str(password))}" if password is not None else ""
    tls = f" REQUIRE {inputs.get('tlsOption') or 'NONE'}"
    return [
        context.step(None, f"CREATE USER IF NOT EXISTS {account}{identified}{tls}"),
        # The user may exist from an earlier run: keep its password and TLS requirement in sync.
        context.step(None, f"ALTER USER {account}{identified}{tls}"),
    ]


def _mysql_privileges(privileges: list[str]) -> str:
    """As the provider normalizes them: upper case, ALL -> ALL PRIVILEGES, USAGE dropped."""
    normalized = []
    for privilege in privileges:
        upper = privilege.strip().upper()
        if upper == "USAGE":
            continue
        normalized.append("ALL PRIVILEGES" if upper == "ALL" else upper)
    return ", ".join(normalized) or "USAGE"


def _mysql_grant(context: _Context) -> SqlStep:
    inputs = context.inputs
    if inputs.get("roles"):
        raise UnsupportedResourceError(f"{context.resource.name}: MySQL role grants are not rendered")
    table = str(inputs.get("table") or "*")
    on = f"{quote_mysql_ident(str(inputs['database']))}.{'*' if table == '*' else quote_mysql_ident(table)}"
    grant_option = " WITH GRANT OPTION" if inputs.get("grant") else ""
    privileges = _mysql_privileges([str(p) for p in inputs.get("privileges") or []])
    return context.step(None, f"GRANT {privileges} ON {on} TO {_mysql_account(inputs)}{grant_option}")


_BUILDERS: dict[str, Callable[[_Context], SqlStep | list[SqlStep]]] = {
    PG + "role:Role": _pg_role,
    PG + "grant:Grant": _pg_grant,
    PG + "defaultPrivileges:DefaultPrivileges": _pg_default_privileges,
    PG + "schema:Schema": _pg_schema,
    PG + "grantRole:GrantRole": _pg_grant_role,
    PG + "database:Database": _pg_database,
    MYSQL + "database:Database": _mysql_database,
    MYSQL + "user:User": _mysql_user,
    MYSQL + "grant:Grant": _mysql_grant,
    DYNAMIC_RESOURCE: _dynamic,
}


def _runs_sql(resource: Resource) -> bool:
    return resource.type.startswith((PG, MYSQL)) or resource.type == DYNAMIC_RESOURCE


def _revealed(inputs: dict[str, Any], show_secrets: bool) -> dict[str, Any]:
    """Inputs with each secret replaced by its value, or by `[secret]` (a password in a review copy)."""
    return {key: _reveal(value, show_secrets) for key, value in inputs.items()}


def _reveal(value: Any, show_secrets: bool) -> Any:
    if isinstance(value, Secret):
        return unwrap_secrets(value) if show_secrets else MASK
    if isinstance(value, dict):
        return {key: _reveal(item, show_secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_reveal(item, show_secrets) for item in value]
    return value


def _plain_inputs(resource: Resource) -> dict[str, Any]:
    """Inputs with secrets unwrapped: for settings that are never printed (host, user, database)."""
    return {key: (value.value if isinstance(value, Secret) else value) for key, value in resource.inputs.items()}


def server_names(capture: Capture) -> list[str]:
    """The database servers of the stack, in the order of its `servers` output (the program's)."""
    components = {component.name for component in server_components(capture)}
    listed = [name for name in unwrap_secrets(capture.outputs.get("servers", {})) if name in components]
    return listed + sorted(components - set(listed))


def sql_steps(capture: Capture, server: str, show_secrets: bool = False) -> list[SqlStep]:
    """What the server's database resources run, each after everything its resource waits for.

    Passwords are `[secret]` unless `show_secrets`: only steps rendered with secrets can be applied.
    """
    provider = _plain_inputs(provider_of_server(capture, server))
    provider_database = str(provider.get("database") or "postgres")
    admin_user = str(provider.get("username") or "postgres")
    steps: list[SqlStep] = []
    for resource in creation_order(capture):
        if not _runs_sql(resource) or server_of(capture, resource) != server:
            continue
        builder = _BUILDERS.get(resource.type)
        if builder is None:
            raise UnsupportedResourceError(f"{resource.name}: no SQL rendering for {resource.type}")
        inputs = _revealed(resource.inputs, show_secrets)
        built = builder(_Context(resource, inputs, provider_database, admin_user))
        steps.extend(built if isinstance(built, list) else [built])
    return steps


# The psql script ------------------------------------------------------------------------------

_PLAIN_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_$]*")


def psql_connect(database: str) -> str:
    """`\\connect db` (psql reuses host, port and user); odd names single-quoted as psql reads them."""
    if _PLAIN_DATABASE_NAME.fullmatch(database):
        return f"\\connect {database}"
    return "\\connect '" + database.replace("\\", "\\\\").replace("'", "''") + "'"


def _render_step(step: SqlStep) -> list[str]:
    lines = [f"-- {step.resource}"]
    if step.skip_if is not None:
        statement = step.statements[0]
        lines += [f"SELECT {quote_literal(statement)}", f"WHERE NOT EXISTS ({step.skip_if})", "\\gexec"]
        return lines
    if step.transaction:
        lines += ["BEGIN;", step.sql.rstrip(), "COMMIT;"]
    else:
        lines.append(step.sql)
    return lines


def _is_postgres(capture: Capture, server: str) -> bool:
    return provider_of_server(capture, server).type == "pulumi:providers:postgresql"


def _server_header(capture: Capture, server: str, show_secrets: bool) -> list[str]:
    inputs = _plain_inputs(provider_of_server(capture, server))
    lines = [f"-- Server {server}"]
    if _is_postgres(capture, server):
        conninfo = (
            f"host={inputs.get('host')} port={inputs.get('port')} user={inputs.get('username')} "
            f"dbname={inputs.get('database')} sslmode={inputs.get('sslmode', 'prefer')}"
        )
        lines.append(f'-- Apply as a superuser: psql "{conninfo}" -v ON_ERROR_STOP=1 -f {server}.sql')
        if str(inputs.get("superuser", "true")).lower() == "false":
            lines.append(
                "-- The provider connects without superuser: around each grant it temporarily grants the owner"
            )
            lines.append("-- role to its admin role (not shown); run this as a superuser or a member of the owners.")
    else:
        host, _, port = str(inputs.get("endpoint", "")).rpartition(":")
        lines.append(f"-- Apply: mysql --host={host} --port={port} --user={inputs.get('username')} -p < {server}.sql")
    if not show_secrets:
        lines.append("-- Passwords are masked as '[secret]': this script is for review, not for applying")
        lines.append("-- (rendered with --show-secrets it can be applied, and re-applied: every step is idempotent).")
    return lines


def render_server_sql(capture: Capture, server: str, show_secrets: bool = False) -> str:
    """One server's script: `\\connect` before each change of database (PostgreSQL)."""
    lines = _server_header(capture, server, show_secrets)
    current: str | None = None
    if _is_postgres(capture, server):
        # Server-wide steps run wherever the session is: start in the provider's database.
        current = str(_plain_inputs(provider_of_server(capture, server)).get("database") or "postgres")
        lines += ["", psql_connect(current)]
    for step in sql_steps(capture, server, show_secrets):
        lines.append("")
        if step.database is not None and step.database != current:
            lines.append(psql_connect(step.database))
            current = step.database
        lines += _render_step(step)
    return "\n".join(lines) + "\n"


def render_sql(capture: Capture, server: str | None = None, show_secrets: bool = False) -> str:
    """The script of one server, or of every server, each in a section of its own."""
    if server is not None:
        return render_server_sql(capture, server, show_secrets)
    sections = [
        f"-- Stack {capture.stack}: the SQL of each database server, one section per server.\n"
        "-- Each section runs against its own server: render one with --server NAME to apply it.\n"
    ]
    for name in server_names(capture):
        rule = "-- " + "=" * 77
        sections.append(f"{rule}\n{render_server_sql(capture, name, show_secrets)}")
    return "\n".join(sections)
