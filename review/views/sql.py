"""The SQL a stack's database resources run when `pulumi up` creates them from nothing.

Each server's resources, in the order the engine creates them (dependencies first; ties broken by
kind, then name, so the script is the same on every run), each with what its provider runs on
create (`review.providers.lifecycle`). The SQL is the providers', not a repair tool: applied to a server
where a role, database or user exists already, it fails where `pulumi up` would.

Passwords are never written into a script by default: they are psql variables
(`:'main_engarde_app_password'`; for MySQL `'${scheduler_scheduler_user_password}'`), and the
script's header says which `pulumi stack output --show-secrets` value holds each one.
`secrets_from_outputs` reads them from that JSON (or from `review plan --format json
--show-secrets`), and `render_sql(..., secrets=...)` writes them in, quoted as the provider quotes
them: so a script's passwords are the ones the services' DSNs hold.

`sql_steps` is for programs: the steps with the captured (mock-generated) passwords, consistent
with the same capture's DSNs.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from resource_types import POSTGRES_PROVIDER
from review.capture.plan import Plan
from review.capture.program import Resource, unwrap_secrets
from review.capture.redact import MASK
from review.providers import (
    SecretStyle,
    ServerContext,
    SqlStep,
    UnsupportedResourceError,
    create_steps,
    password_input,
    password_owner,
    password_resources,
    runs_sql,
    secret_variable,
    server_context,
)
from topology.scram import is_verifier_of

__all__ = [
    "MissingSecretError",
    "SecretSource",
    "SqlStep",
    "UnsupportedResourceError",
    "psql_connect",
    "render_server_sql",
    "render_sql",
    "render_steps",
    "secret_sources",
    "secrets_from_outputs",
    "sql_steps",
]


class MissingSecretError(KeyError):
    """A password the script needs is not in the secrets file."""

    def __str__(self) -> str:
        return str(self.args[0])


def _steps(plan: Plan, ctx: ServerContext) -> list[SqlStep]:
    steps: list[SqlStep] = []
    for resource in plan.on_server(ctx.server):
        if runs_sql(resource.type):
            steps.extend(create_steps(resource, ctx))
    return steps


def sql_steps(plan: Plan, server: str, context: ServerContext | None = None) -> list[SqlStep]:
    """What the server's resources run when the stack is created from nothing, in creation order.

    Passwords are the captured values (the mocks'), so the steps agree with the capture's DSNs.
    `context` overrides what `server_context(plan, server)` assumes (e.g. a non-superuser admin).
    """
    return _steps(plan, context or server_context(plan, server))


# Secrets ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretSource:
    """Where a stack output holds the password a variable stands for."""

    variable: str
    resource: Resource
    path: tuple[str, ...] | None
    """Keys from the outputs' root (`services`, `backend`, `env`, `DATABASE_URL`); None: in no output."""
    in_url: bool
    """The value is a URL whose (percent-encoded) password is the secret."""

    def describe(self) -> str:
        if self.path is None:
            return (
                f"in no stack output: read it from the state (pulumi stack export --show-secrets, {self.resource.urn})"
            )
        where = ".".join(self.path)
        return f"the password in the URL at {where}" if self.in_url else where


def output_leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Each scalar of a stack-output document with its path of keys and list indexes."""
    if isinstance(value, dict):
        for key in sorted(value):
            yield from output_leaves(value[key], (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from output_leaves(item, (*path, str(index)))
    else:
        yield path, value


def _url_credentials(text: str) -> tuple[str, str] | None:
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if not parts.scheme or parts.password is None:
        return None
    return unquote(parts.username or ""), unquote(parts.password)


def _is_password_of(credentials: tuple[str, str] | None, owner: str, password: str) -> bool:
    """Whether a URL's credentials are the owner's password: the same text, or the password whose
    SCRAM verifier the role is given (the stack stores verifiers: see topology/scram.py)."""
    if credentials is None or credentials[0] != owner:
        return False
    if password.startswith("SCRAM-SHA-256$"):
        return is_verifier_of(password, credentials[1])
    return credentials[1] == password


@dataclass(frozen=True)
class _OutputStrings:
    """The string leaves of the stack outputs, indexed once: by value, and URLs by their user."""

    first_path: dict[str, tuple[str, ...]]
    """Value -> the first path (in sorted key order) that holds it."""
    urls_by_user: dict[str, list[tuple[tuple[str, ...], str]]]
    """URL user -> (path, URL password), in path order."""

    @classmethod
    def of(cls, outputs: Any) -> _OutputStrings:
        first_path: dict[str, tuple[str, ...]] = {}
        urls_by_user: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for path, leaf in output_leaves(outputs):
            if not isinstance(leaf, str):
                continue
            first_path.setdefault(leaf, path)
            credentials = _url_credentials(leaf)
            if credentials is not None:
                urls_by_user.setdefault(credentials[0], []).append((path, credentials[1]))
        return cls(first_path, urls_by_user)

    def url_holding(self, owner: str, password: str) -> tuple[str, ...] | None:
        """The first path of a URL whose credentials are the owner's password."""
        for path, url_password in self.urls_by_user.get(owner, []):
            if _is_password_of((owner, url_password), owner, password):
                return path
        return None


def secret_sources(plan: Plan, server: str) -> list[SecretSource]:
    """Each password the server's SQL needs, with the stack output that holds it."""
    strings = _OutputStrings.of(unwrap_secrets(plan.outputs))
    sources = []
    for resource in password_resources(plan, server):
        password = str(unwrap_secrets(password_input(resource)))
        exact = strings.first_path.get(password)
        url = strings.url_holding(password_owner(resource), password)
        found = exact or url
        sources.append(
            SecretSource(secret_variable(server, resource), resource, found, exact is None and url is not None)
        )
    return sources


def _lookup(document: Any, path: tuple[str, ...]) -> Any:
    node = document
    for key in path:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node


def secrets_from_outputs(plan: Plan, server: str, document: Mapping[str, Any]) -> dict[str, str]:
    """Variable -> password, read from `pulumi stack output --json --show-secrets` (or `review plan
    --format json --show-secrets`). Raises `MissingSecretError` naming the first one it lacks."""
    values: dict[str, str] = {}
    for source in secret_sources(plan, server):
        found = _lookup(document, source.path) if source.path is not None else None
        if isinstance(found, str) and source.in_url:
            credentials = _url_credentials(found)
            found = credentials[1] if credentials else None
        if not isinstance(found, str) or not found or found == MASK:
            raise MissingSecretError(f"the secrets file lacks the password of {source.variable} ({source.describe()})")
        values[source.variable] = found
    return values


# The script -------------------------------------------------------------------------------------

_PLAIN_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_$]*")


MYSQL_CLIENT_SSL_MODES = {"false": "DISABLED", "skip-verify": "REQUIRED", "true": "VERIFY_IDENTITY"}
"""The mysql client's --ssl-mode for each of the mysql provider's `tls` values (the stack's sslmode)."""
_CONNINFO_PLAIN = re.compile(r"[^\s'\\]+")


def conninfo_value(value: str) -> str:
    """A libpq conninfo value: single-quoted, with \\ and ' escaped, unless plain."""
    if _CONNINFO_PLAIN.fullmatch(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def unfilled_guard(variables: list[str]) -> list[str]:
    """MySQL statements that stop the script (error 1242, the mysql client stops at the first error)
    while a `${NAME}` placeholder is still in it: no user gets the placeholder text as its password."""
    lines = ["-- Refuses to run until every ${NAME} placeholder below is substituted (envsubst):"]
    for variable in variables:
        lines.append(
            f"SELECT IF('${{{variable}}}' LIKE CONCAT('$', '{{%'), (SELECT 1 UNION ALL SELECT 2), 1) AS filled;"
        )
    return lines


def psql_connect(database: str) -> str:
    """`\\connect db` (psql reuses host, port and user); odd names single-quoted as psql reads them."""
    if _PLAIN_DATABASE_NAME.fullmatch(database):
        return f"\\connect {database}"
    return "\\connect '" + database.replace("\\", "\\\\").replace("'", "''") + "'"


def _render_step(step: SqlStep) -> list[str]:
    lines = [f"-- {step.resource}"]
    if step.transaction:
        lines += ["BEGIN;", step.sql.rstrip(), "COMMIT;"]
    else:
        lines.append(step.sql)
    return lines


def _is_postgres(plan: Plan, server: str) -> bool:
    return plan.provider_of_server(server).type == POSTGRES_PROVIDER


def _server_header(plan: Plan, server: str, ctx: ServerContext, filled: bool, sources: list[SecretSource]) -> list[str]:
    inputs = unwrap_secrets(plan.provider_of_server(server).inputs)
    lines = [f"-- Server {server}"]
    if _is_postgres(plan, server):
        settings = {
            "host": inputs.get("host"),
            "port": inputs.get("port"),
            "user": inputs.get("username"),
            "dbname": inputs.get("database"),
            "sslmode": inputs.get("sslmode", "prefer"),
        }
        conninfo = " ".join(f"{key}={conninfo_value(str(value))}" for key, value in settings.items())
        lines.append(
            f"-- Apply as the provider's admin: psql {shlex.quote(conninfo)} -v ON_ERROR_STOP=1 -f {server}.sql"
        )
        if not ctx.admin_is_superuser:
            lines.append(
                f"-- {ctx.admin_user} is not a superuser: the GRANT <owner> TO {ctx.admin_user} / REVOKE pairs around"
            )
            lines.append("-- statements are the provider's own temporary elevation (helpers.go withRolesGranted).")
    else:
        host, _, port = str(inputs.get("endpoint", "")).rpartition(":")
        ssl_mode = MYSQL_CLIENT_SSL_MODES.get(str(inputs.get("tls", "false")), "REQUIRED")
        user = shlex.quote(str(inputs.get("username")))
        lines.append(
            f"-- Apply: mysql --host={shlex.quote(host)} --port={port} --user={user} --ssl-mode={ssl_mode} -p"
            f" < {server}.sql"
        )
    lines.append("-- The providers' SQL for creating everything from nothing: it fails on objects that exist.")
    if filled:
        lines.append("-- Passwords are written in: keep this file secret.")
    elif sources:
        variable_syntax = "psql variables" if _is_postgres(plan, server) else "${NAME} placeholders (envsubst)"
        lines.append(f"-- Passwords are {variable_syntax}, from `pulumi stack output --json --show-secrets`:")
        lines += [f"--   {source.variable}: {source.describe()}" for source in sources]
        lines.append(
            "-- Fill them in: python -m review plan ... --format sql --server NAME --secrets-from OUTPUTS.json"
        )
        if not _is_postgres(plan, server):
            lines += unfilled_guard([source.variable for source in sources])
    return lines


def render_server_sql(plan: Plan, server: str, secrets: Mapping[str, str] | None = None) -> str:
    """One server's script (`\\connect` before each change of database, PostgreSQL).

    Without `secrets`, passwords are variables; with them (variable -> password, see
    `secrets_from_outputs`), written in.
    """
    ctx = server_context(plan, server, SecretStyle.VARIABLES if secrets is None else SecretStyle.VALUES)
    sources = secret_sources(plan, server)
    if secrets is not None:
        ctx = _with_values(sources, ctx, secrets)
    lines = _server_header(plan, server, ctx, secrets is not None, sources)
    lines += render_steps(_steps(plan, ctx), ctx)
    return "\n".join(lines) + "\n"


def render_steps(steps: list[SqlStep], ctx: ServerContext) -> list[str]:
    """Script lines for `steps` on one server: for PostgreSQL a `\\connect` to the provider's database
    first (server-wide statements run there) and before each change of database; each step under a
    `-- <resource>` comment, in BEGIN/COMMIT when the provider runs it in one transaction."""
    lines: list[str] = []
    current: str | None = None
    if ctx.engine == "postgresql":
        current = ctx.provider_database
        lines += ["", psql_connect(current)]
    for step in steps:
        lines.append("")
        if step.database is not None and step.database != current:
            lines.append(psql_connect(step.database))
            current = step.database
        lines += _render_step(step)
    return lines


def _with_values(sources: list[SecretSource], ctx: ServerContext, secrets: Mapping[str, str]) -> ServerContext:
    """A context whose passwords are `secrets`, not the captured ones (`sources`: the server's)."""
    by_urn = {source.resource.urn: source.variable for source in sources}
    missing = [variable for variable in by_urn.values() if variable not in secrets]
    if missing:
        raise MissingSecretError(f"no password given for {missing[0]}")
    return dataclasses.replace(ctx, secret_values={urn: secrets[variable] for urn, variable in by_urn.items()})


def render_sql(plan: Plan, server: str | None = None, secrets: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """The script of one server, or of every server, each in a section of its own.

    `secrets`: server -> (variable -> password), to write passwords in.
    """
    if server is not None:
        return render_server_sql(plan, server, None if secrets is None else secrets.get(server, {}))
    sections = [
        f"-- Stack {plan.stack}: the SQL of each database server, one section per server.\n"
        "-- Each section runs against its own server: render one with --server NAME to apply it.\n"
    ]
    for name in plan.server_names():
        rule = "-- " + "=" * 77
        body = render_server_sql(plan, name, None if secrets is None else secrets.get(name, {}))
        sections.append(f"{rule}\n{body}")
    return "\n".join(sections)
