"""The SQL a stack's database resources run when `pulumi up` creates them from nothing.

Each server's resources, in the order the engine creates them (dependencies first; ties broken by
kind, then name, so the script is the same on every run), each with what its provider runs on
create (`review.lifecycle`). The SQL is the providers', not a repair tool: applied to a server
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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from review.capture import Capture, Resource, unwrap_secrets
from review.graph import creation_order, provider_of_server, server_components, server_of
from review.lifecycle import (
    PASSWORD_INPUTS,
    PG_ROLE,
    SecretStyle,
    ServerContext,
    SqlStep,
    UnsupportedResourceError,
    create_steps,
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
    "server_names",
    "sql_steps",
]


class MissingSecretError(KeyError):
    """A password the script needs is not in the secrets file."""

    def __str__(self) -> str:
        return str(self.args[0])


def server_names(capture: Capture) -> list[str]:
    """The database servers of the stack, in the order of its `servers` output (the program's)."""
    components = {component.name for component in server_components(capture)}
    listed = [name for name in unwrap_secrets(capture.outputs.get("servers", {})) if name in components]
    return listed + sorted(components - set(listed))


def _steps(capture: Capture, ctx: ServerContext) -> list[SqlStep]:
    steps: list[SqlStep] = []
    for resource in creation_order(capture):
        if runs_sql(resource.type) and server_of(capture, resource) == ctx.server:
            steps.extend(create_steps(resource, ctx))
    return steps


def sql_steps(capture: Capture, server: str, context: ServerContext | None = None) -> list[SqlStep]:
    """What the server's resources run when the stack is created from nothing, in creation order.

    Passwords are the captured values (the mocks'), so the steps agree with the capture's DSNs.
    `context` overrides what `server_context(capture, server)` assumes (e.g. a non-superuser admin).
    """
    return _steps(capture, context or server_context(capture, server))


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


def _leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _leaves(value[key], (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, str(index)))
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


def _password_owner(resource: Resource) -> str:
    inputs = unwrap_secrets(resource.inputs)
    return str(inputs["name"] if resource.type == PG_ROLE else inputs["user"])


def secret_sources(capture: Capture, server: str) -> list[SecretSource]:
    """Each password the server's SQL needs, with the stack output that holds it."""
    outputs = unwrap_secrets(capture.outputs)
    sources = []
    for resource in password_resources(capture, server):
        password = str(unwrap_secrets(resource.inputs[PASSWORD_INPUTS[resource.type]]))
        owner = _password_owner(resource)
        exact: tuple[str, ...] | None = None
        url: tuple[str, ...] | None = None
        for path, leaf in _leaves(outputs):
            if not isinstance(leaf, str):
                continue
            if leaf == password and exact is None:
                exact = path
            elif url is None and _is_password_of(_url_credentials(leaf), owner, password):
                url = path
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


def secrets_from_outputs(capture: Capture, server: str, document: Mapping[str, Any]) -> dict[str, str]:
    """Variable -> password, read from `pulumi stack output --json --show-secrets` (or `review plan
    --format json --show-secrets`). Raises `MissingSecretError` naming the first one it lacks."""
    values: dict[str, str] = {}
    for source in secret_sources(capture, server):
        found = _lookup(document, source.path) if source.path is not None else None
        if isinstance(found, str) and source.in_url:
            credentials = _url_credentials(found)
            found = credentials[1] if credentials else None
        if not isinstance(found, str) or not found or found == "[secret]":
            raise MissingSecretError(f"the secrets file lacks the password of {source.variable} ({source.describe()})")
        values[source.variable] = found
    return values


# The script -------------------------------------------------------------------------------------

_PLAIN_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_$]*")


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


def _is_postgres(capture: Capture, server: str) -> bool:
    return provider_of_server(capture, server).type == "pulumi:providers:postgresql"


def _server_header(capture: Capture, server: str, ctx: ServerContext, filled: bool) -> list[str]:
    inputs = unwrap_secrets(provider_of_server(capture, server).inputs)
    lines = [f"-- Server {server}"]
    sources = secret_sources(capture, server)
    if _is_postgres(capture, server):
        conninfo = (
            f"host={inputs.get('host')} port={inputs.get('port')} user={inputs.get('username')} "
            f"dbname={inputs.get('database')} sslmode={inputs.get('sslmode', 'prefer')}"
        )
        lines.append(f'-- Apply as the provider\'s admin: psql "{conninfo}" -v ON_ERROR_STOP=1 -f {server}.sql')
        if not ctx.admin_is_superuser:
            lines.append(
                f"-- {ctx.admin_user} is not a superuser: the GRANT <owner> TO {ctx.admin_user} / REVOKE pairs around"
            )
            lines.append("-- statements are the provider's own temporary elevation (helpers.go withRolesGranted).")
    else:
        host, _, port = str(inputs.get("endpoint", "")).rpartition(":")
        lines.append(f"-- Apply: mysql --host={host} --port={port} --user={inputs.get('username')} -p < {server}.sql")
    lines.append("-- The providers' SQL for creating everything from nothing: it fails on objects that exist.")
    if filled:
        lines.append("-- Passwords are written in: keep this file secret.")
    elif sources:
        variable_syntax = "psql variables" if _is_postgres(capture, server) else "${NAME} placeholders (envsubst)"
        lines.append(f"-- Passwords are {variable_syntax}, from `pulumi stack output --json --show-secrets`:")
        lines += [f"--   {source.variable}: {source.describe()}" for source in sources]
        lines.append(
            "-- Fill them in: python -m review plan ... --format sql --server NAME --secrets-from OUTPUTS.json"
        )
    return lines


def render_server_sql(capture: Capture, server: str, secrets: Mapping[str, str] | None = None) -> str:
    """One server's script (`\\connect` before each change of database, PostgreSQL).

    Without `secrets`, passwords are variables; with them (variable -> password, see
    `secrets_from_outputs`), written in.
    """
    ctx = server_context(capture, server, SecretStyle.VARIABLES if secrets is None else SecretStyle.VALUES)
    if secrets is not None:
        ctx = _with_values(capture, ctx, secrets)
    lines = _server_header(capture, server, ctx, filled=secrets is not None)
    lines += render_steps(_steps(capture, ctx), ctx)
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


def _with_values(capture: Capture, ctx: ServerContext, secrets: Mapping[str, str]) -> ServerContext:
    """A context whose passwords are `secrets`, not the captured ones."""
    by_urn = {source.resource.urn: source.variable for source in secret_sources(capture, ctx.server)}
    missing = [variable for variable in by_urn.values() if variable not in secrets]
    if missing:
        raise MissingSecretError(f"no password given for {missing[0]}")
    return dataclasses.replace(ctx, secret_values={urn: secrets[variable] for urn, variable in by_urn.items()})


def render_sql(
    capture: Capture, server: str | None = None, secrets: Mapping[str, Mapping[str, str]] | None = None
) -> str:
    """The script of one server, or of every server, each in a section of its own.

    `secrets`: server -> (variable -> password), to write passwords in.
    """
    if server is not None:
        return render_server_sql(capture, server, None if secrets is None else secrets.get(server, {}))
    sections = [
        f"-- Stack {capture.stack}: the SQL of each database server, one section per server.\n"
        "-- Each section runs against its own server: render one with --server NAME to apply it.\n"
    ]
    for name in server_names(capture):
        rule = "-- " + "=" * 77
        body = render_server_sql(capture, name, None if secrets is None else secrets.get(name, {}))
        sections.append(f"{rule}\n{body}")
    return "\n".join(sections)
