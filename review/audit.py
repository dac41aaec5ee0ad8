"""Drift audit: what the topology declares against what a live server grants.

Each finding is one line: server, object, role, expected, found. Privileges that no stack
resource grants (a GRANT by hand), missing ones (a REVOKE by hand), elevated role attributes,
missing default privileges, PUBLIC's privileges on `public`, and login roles the stack does
not know are all reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from review.catalog import PostgresCatalog, read_mysql_grants, read_postgres
from topology.backups import MYSQL_BACKUP_PRIVILEGES
from topology.model import PROFILE_PRIVILEGES, Engine, Profile, Server, Topology

ELEVATED = ("superuser", "createdb", "createrole", "replication", "bypassrls")


@dataclass(frozen=True, order=True)
class Finding:
    """One difference between the declared and the live state."""

    server: str
    object: str
    role: str
    expected: str
    found: str

    def line(self) -> str:
        return f"{self.server}  {self.object}  {self.role}  expected: {self.expected}  found: {self.found}"

    def as_dict(self) -> dict[str, str]:
        return {"server": self.server, "object": self.object, "role": self.role,
                "expected": self.expected, "found": self.found}  # fmt: skip


@dataclass(frozen=True)
class Expected:
    """The declared state of one PostgreSQL server, in the catalog's tuple shapes."""

    roles: dict[str, bool]
    """role -> login"""
    memberships: set[tuple[str, str]]
    schemas: dict[str, str | None]
    """schema -> owner the stack sets (None: an existing schema whose owner the stack leaves alone)"""
    schema_acl: set[tuple[str, str, str]]
    table_privileges: dict[str, set[tuple[str, str, str]]]
    """schema -> {(kind, grantee, privilege)} every relation of that kind must carry"""
    default_acl: set[tuple[str, str, str, str, str]]
    usage: set[tuple[str, str]]
    """(login role, schema) pairs that must have effective USAGE; every other pair must not"""
    connection_limits: dict[str, int] = field(default_factory=dict)
    """login role -> its CONNECTION LIMIT"""


def expected_state(topology: Topology, server: str) -> Expected:
    """What the stack declares on `server`, derived from the topology."""
    roles = {r.name: r.login for r in topology.layouts[server].roles}
    memberships = {(g.name, m) for g in topology.layouts[server].groups for m in g.members}
    memberships |= {(builtin, r.name) for r in topology.layouts[server].roles for builtin in r.member_of}
    schemas: dict[str, str | None] = {}
    schema_acl: set[tuple[str, str, str]] = set()
    for schema in topology.layouts[server].schemas:
        schemas[schema.name] = schema.owner if schema.created else None
        if not schema.created:
            schema_acl |= {(schema.name, schema.owner, p) for p in PROFILE_PRIVILEGES[Profile.OWNER].schema}
    table_privileges: dict[str, set[tuple[str, str, str]]] = {name: set() for name in schemas}
    default_acl: set[tuple[str, str, str, str, str]] = set()
    for group in topology.layouts[server].groups:
        privileges = PROFILE_PRIVILEGES[group.profile]
        schema_acl |= {(group.schema, group.name, p) for p in privileges.schema}
        for kind, granted in (("table", privileges.tables), ("sequence", privileges.sequences)):
            table_privileges[group.schema] |= {(kind, group.name, p) for p in granted}
            default_acl |= {(group.creator, group.schema, kind, group.name, p) for p in granted}
    usage = {(a.role, a.schema) for a in topology.access if a.server == server}
    limits = {r.name: r.connection_limit for r in topology.layouts[server].roles if r.login}
    return Expected(roles, memberships, schemas, schema_acl, table_privileges, default_acl, usage, limits)


def _diff(server: str, kind: str, expected: set[Any], found: set[Any], describe: Any) -> Iterable[Finding]:
    for item in sorted(expected - found):
        obj, role, privilege = describe(item)
        yield Finding(server, f"{kind} {obj}".strip(), role, privilege, "-")
    for item in sorted(found - expected):
        obj, role, privilege = describe(item)
        yield Finding(server, f"{kind} {obj}".strip(), role, "-", privilege)


def audit_postgres(
    topology: Topology, spec: Server, catalog: PostgresCatalog, effective_usage: set[tuple[str, str]]
) -> list[Finding]:
    """Findings for one PostgreSQL server. `effective_usage`: (login role, schema) with USAGE now."""
    server = spec.name
    want = expected_state(topology, server)
    findings: list[Finding] = []
    for name, login in sorted(want.roles.items()):
        row = catalog.roles.get(name)
        if row is None:
            findings.append(Finding(server, "role", name, "exists", "missing"))
            continue
        if row.login != login:
            findings.append(Finding(server, "role", name, "LOGIN" if login else "NOLOGIN",
                                    "LOGIN" if row.login else "NOLOGIN"))  # fmt: skip
        for attribute in ELEVATED:
            if getattr(row, attribute):
                findings.append(Finding(server, "role attribute", name, f"NO{attribute.upper()}", attribute.upper()))
        limit = want.connection_limits.get(name)
        if limit is not None and row.connection_limit != limit:
            findings.append(Finding(server, "connection limit", name, str(limit), str(row.connection_limit)))
    for name, row in sorted(catalog.roles.items()):
        # A superuser the layout does not know is the platform's own (the bootstrap `postgres` beside a
        # managed admin): no admin the stack connects as can create or remove one, so it is no drift.
        platform = row.superuser and not spec.superuser
        if (
            row.login
            and name not in want.roles
            and name != spec.admin_user
            and not name.startswith("pg_")
            and not platform
        ):
            findings.append(Finding(server, "role", name, "no such login role", "LOGIN"))

    managed = set(want.roles)
    # The admin's own memberships are the server's doing: on PostgreSQL 16+ a CREATEROLE admin is
    # granted every role it creates (ADMIN OPTION), and the provider grants it owners for a moment.
    found_memberships = {
        (g, m) for g, m in catalog.memberships if (g in managed or m in managed) and m != spec.admin_user
    }
    findings += _diff(server, "membership in", want.memberships, found_memberships, lambda i: (i[0], i[1], "MEMBER"))

    for schema, owner in sorted(want.schemas.items()):
        actual = catalog.schemas.get(schema)
        if actual is None:
            findings.append(Finding(server, f"schema {schema}", "-", "exists", "missing"))
        elif owner is not None and actual != owner:
            findings.append(Finding(server, f"schema {schema}", actual, f"owner {owner}", f"owner {actual}"))

    in_scope = set(want.schemas)
    found_schema_acl = {item for item in catalog.schema_acl if item[0] in in_scope}
    findings += _diff(server, "schema", want.schema_acl, found_schema_acl, lambda i: (i[0], i[1], i[2]))

    expected_relation_acl = {
        (schema, relation, kind, grantee, privilege)
        for (schema, relation), (kind, _owner) in catalog.relations.items()
        if schema in in_scope
        for wanted_kind, grantee, privilege in want.table_privileges[schema]
        if wanted_kind == kind
    }
    found_relation_acl = {item for item in catalog.relation_acl if item[0] in in_scope}
    findings += _diff(server, "", expected_relation_acl, found_relation_acl,
                      lambda i: (f"{i[2]} {i[0]}.{i[1]}", i[3], i[4]))  # fmt: skip

    found_default_acl = {item for item in catalog.default_acl if item[1] in in_scope or item[0] in managed}
    findings += _diff(server, "default privileges", want.default_acl, found_default_acl,
                      lambda i: (f"for role {i[0]} in schema {i[1]} on {i[2]}s", i[3], i[4]))  # fmt: skip

    logins = {name for name, login in want.roles.items() if login}
    found_usage = {(role, schema) for role, schema in effective_usage if role in logins and schema in in_scope}
    findings += _diff(
        server, "effective", want.usage, found_usage, lambda i: (f"USAGE on schema {i[1]}", i[0], "USAGE")
    )
    return sorted(set(findings))


def effective_usage(connection: Any, roles: Iterable[str], schemas: Iterable[str]) -> set[tuple[str, str]]:
    """(role, schema) pairs where `has_schema_privilege(role, schema, 'USAGE')` holds."""
    rows = connection.execute(
        "SELECT r.rolname, n.nspname FROM pg_roles r CROSS JOIN pg_namespace n"
        " WHERE r.rolname = ANY(%s) AND n.nspname = ANY(%s) AND has_schema_privilege(r.oid, n.oid, 'USAGE')",
        (list(roles), list(schemas)),
    ).fetchall()
    return {(role, schema) for role, schema in rows}


def audit_mysql(topology: Topology, connection: Any) -> list[Finding]:
    """The scheduler's user: all privileges on its database, nothing else."""
    findings = []
    for user in topology.database_users:
        grants = read_mysql_grants(connection, user.name, "%")
        if grants is None:
            findings.append(Finding(user.server, "user", f"{user.name}@%", "exists", "missing"))
            continue
        expected_grant = f"GRANT ALL PRIVILEGES ON `{user.database}`.* TO `{user.name}`@`%`"
        if not any(g.startswith(expected_grant) for g in grants):
            findings.append(Finding(user.server, f"database {user.database}", user.name, "ALL PRIVILEGES", "-"))
        for grant in grants:
            if grant.startswith(expected_grant) or grant.startswith("GRANT USAGE ON *.* TO"):
                continue
            findings.append(Finding(user.server, "grant", user.name, "-", grant.split(" IDENTIFIED BY")[0]))
    return findings + audit_mysql_backup_users(topology, connection)


def audit_mysql_backup_users(topology: Topology, connection: Any) -> list[Finding]:
    """The backup user: exactly the dump privileges on its database, nothing else."""
    findings = []
    for job in (j for j in topology.backups if j.engine is Engine.MYSQL):
        grants = read_mysql_grants(connection, job.login, "%")
        if grants is None:
            findings.append(Finding(job.server, "user", f"{job.login}@%", "exists", "missing"))
            continue
        on_database = f" ON `{job.database}`.* TO "
        found: set[str] = set()
        for grant in grants:
            head = grant.split(" IDENTIFIED BY")[0]
            if on_database in head:
                found |= {p.strip() for p in head.removeprefix("GRANT ").split(on_database)[0].split(",")}
            elif not head.startswith("GRANT USAGE ON *.* TO"):
                findings.append(Finding(job.server, "grant", job.login, "-", head))
        expected = set(MYSQL_BACKUP_PRIVILEGES)
        for privilege in sorted(expected - found):
            findings.append(Finding(job.server, f"database {job.database}", job.login, privilege, "-"))
        for privilege in sorted(found - expected):
            findings.append(Finding(job.server, f"database {job.database}", job.login, "-", privilege))
    return findings


class AuditConnectionError(RuntimeError):
    """A server could not be reached or read (the message names the server, never a password)."""


def _mysql_connect(dsn: str) -> Any:
    import pymysql

    url = urlsplit(dsn)
    if url.scheme != "mysql" or not url.hostname:
        raise AuditConnectionError("the scheduler DSN must look like mysql://user:password@host:port/")
    return pymysql.connect(
        host=url.hostname,
        port=url.port or 3306,
        user=unquote(url.username or ""),
        password=unquote(url.password or ""),
        connect_timeout=10,
        autocommit=True,
    )


def audit_servers(topology: Topology, dsns: Mapping[str, str]) -> list[Finding]:
    """Read each server `dsns` names through its admin DSN and compare it with the declared state."""
    findings: list[Finding] = []
    for name, spec in topology.servers.items():
        if name not in dsns:
            continue
        dsn = dsns[name]
        try:
            if spec.engine is Engine.MYSQL:
                connection = _mysql_connect(dsn)
                try:
                    findings += audit_mysql(topology, connection)
                finally:
                    connection.close()
                continue
            with psycopg.connect(make_conninfo(dsn, dbname=spec.database), connect_timeout=10) as connection:
                catalog = read_postgres(connection)
                logins = [r.name for r in topology.layouts[name].roles if r.login]
                schemas = [s.name for s in topology.layouts[name].schemas]
                findings += audit_postgres(topology, spec, catalog, effective_usage(connection, logins, schemas))
        except (psycopg.Error, OSError) as error:
            raise AuditConnectionError(f"server {name}: {type(error).__name__}: {_first_line(error)}") from None
        except Exception as error:
            if type(error).__module__.startswith("pymysql"):
                raise AuditConnectionError(f"server {name}: {type(error).__name__}: {_first_line(error)}") from None
            raise
    return findings


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else ""


def check_dsn_database(server: Server, dsn: str) -> None:
    """Refuse a PostgreSQL DSN naming another database than the stack's: schemas and grants live per
    database, so the audit would read the wrong catalog. (MySQL grants are server-wide: any database.)"""
    if server.engine is not Engine.POSTGRESQL:
        return
    try:
        named = conninfo_to_dict(dsn).get("dbname")
    except psycopg.Error:
        raise AuditConnectionError(f"--dsn {server.name}: not a PostgreSQL URL or conninfo string") from None
    if named and named != server.database:
        raise AuditConnectionError(
            f"--dsn {server.name}: the DSN names database {str(named)!r}, but the stack's database on "
            f"{server.name} is {server.database!r}: name {server.database!r} or no database"
        )


HEADER = ("server", "object", "role", "expected", "found")


def render_text_report(findings: list[Finding], audited: list[str], skipped: list[str]) -> str:
    """Findings as aligned columns under a header row, then which servers were audited and skipped."""
    lines = []
    if findings:
        rows = [list(HEADER)] + [[f.server, f.object, f.role, f.expected, f.found] for f in findings]
        widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
        lines += [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
        ]
        lines.append(f"{len(findings)} finding{'s' if len(findings) != 1 else ''} on {', '.join(audited)}")
    else:
        lines.append(f"no drift on {', '.join(audited)}")
    if skipped:
        lines.append(f"skipped (no --dsn): {', '.join(skipped)}")
    return "\n".join(lines) + "\n"
