"""Drift audit: what the stack's layout wants on each server against what the server holds.

Each finding is one line: server, object, role, expected, found. On a PostgreSQL server the audit
compares, for the layout's database:

* privileges, as sets of `topology.model.Privilege` records: on each layout schema, on every table and
  sequence in it, and by default for the roles whose future objects get them; a grant by hand, a revoke
  by hand, a missing default privilege and PUBLIC's privileges all show;
* owners: each schema the stack creates is owned by its owner role, and every relation, type and routine
  in a layout schema by that schema's owner (the role its migrations run as);
* schemas: each layout schema exists, and no other does (`public`, which every database has, is known);
* roles: each layout role exists with every attribute its Role resource sets (`ROLE_ATTRIBUTES`: LOGIN,
  no elevated attribute, INHERIT, CONNECTION LIMIT, no VALID UNTIL) and exactly its role-level settings
  (its search_path, for every database; none in the audited database only), one finding per difference;
  and no other role exists, login or not (named with its attributes), except the built-in `pg_*` roles,
  the admin itself and, when the admin is not a superuser, the platform's roles: superusers (no such
  admin creates or drops one) and the roles the admin inherits privileges from (a managed platform's
  group, such as `rds_superuser`); a role the admin merely holds ADMIN OPTION on -- PostgreSQL 16+
  grants a CREATEROLE admin that on every role it creates -- is no platform role;
* memberships: each layout membership exists, and no other membership has a layout role as its group
  or member, except the admin's own memberships in layout roles (PostgreSQL 16+ grants them on CREATE
  ROLE, and the provider grants the admin an owner role for the length of a transaction);
* effective USAGE: each login role reaches exactly the schemas of its access-matrix cells.

On a MySQL server: each user holds exactly its privileges on its database, and nothing beyond it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from review.audit.catalog import NO_EXPIRY, PostgresCatalog, RoleRow, read_mysql_grants, read_postgres
from topology.backups import MYSQL_BACKUP_PRIVILEGES
from topology.model import Engine, ObjectType, Privilege, Role, Server, ServerLayout, Topology

ALWAYS_THERE = frozenset({"public"})
"""Schemas every database has: known to the layout even where it leaves them alone."""


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


def expected_privileges(layout: ServerLayout, catalog: PostgresCatalog) -> set[Privilege]:
    """The layout's privileges as the catalog reports them: a grant on every table or sequence of a
    schema becomes one privilege on each such relation that exists now."""
    relations: dict[tuple[str, ObjectType], list[str]] = {}
    for obj in catalog.objects:
        if obj.object_type is not None:
            relations.setdefault((obj.schema, obj.object_type), []).append(obj.name)
    expected: set[Privilege] = set()
    for privilege in layout.privileges:
        if privilege.object_type is ObjectType.SCHEMA or privilege.is_default:
            expected.add(privilege)
        else:
            expected |= {
                privilege.on_relation(name) for name in relations.get((privilege.schema, privilege.object_type), ())
            }
    return expected


def found_privileges(layout: ServerLayout, catalog: PostgresCatalog) -> set[Privilege]:
    """The live privileges the audit answers for: on and in the layout's schemas, and the default
    privileges of its roles wherever they apply."""
    schemas = {s.name for s in layout.schemas}
    roles = {r.name for r in layout.roles}
    return {p for p in catalog.privileges if p.schema in schemas or p.default_for in roles}


def _describe(privilege: Privilege, kinds: Mapping[tuple[str, str], str]) -> str:
    if privilege.default_for is not None:
        where = f"in schema {privilege.schema}" if privilege.schema else "in every schema"
        return f"default privileges for role {privilege.default_for} {where} on {privilege.object_type.value}s"
    if privilege.relation is not None:
        kind = kinds.get((privilege.schema, privilege.relation), privilege.object_type.value)
        return f"{kind} {privilege.schema}.{privilege.relation}"
    return f"schema {privilege.schema}"


def privilege_findings(layout: ServerLayout, catalog: PostgresCatalog) -> list[Finding]:
    """Privileges the layout wants and the server lacks, and those it holds beyond them."""
    want, found = expected_privileges(layout, catalog), found_privileges(layout, catalog)
    kinds = {(o.schema, o.name): o.kind for o in catalog.objects}
    server = layout.name
    return [
        *(Finding(server, _describe(p, kinds), p.grantee, p.privilege, "-") for p in want - found),
        *(Finding(server, _describe(p, kinds), p.grantee, "-", p.privilege) for p in found - want),
    ]


AttributeValue = bool | int | str


@dataclass(frozen=True)
class RoleAttribute:
    """One attribute of CREATE ROLE: what the stack's Role resource gives a layout role (components/roles.py:
    every flag it sets explicitly, the provider's default `valid_until`), where pg_roles keeps it, and
    CREATE ROLE's default (left unnamed when describing a role the stack does not know)."""

    keyword: str
    wanted: Callable[[Role], AttributeValue]
    found: Callable[[RoleRow], AttributeValue]
    default: AttributeValue

    def spelled(self, value: AttributeValue) -> str:
        """As CREATE ROLE spells it: `SUPERUSER`, `NOINHERIT`, `CONNECTION LIMIT 5`."""
        if isinstance(value, bool):
            return self.keyword if value else f"NO{self.keyword}"
        return f"{self.keyword} {value}"


ROLE_ATTRIBUTES = (
    RoleAttribute("LOGIN", lambda role: role.login, lambda row: row.login, False),
    RoleAttribute("SUPERUSER", lambda role: False, lambda row: row.superuser, False),
    RoleAttribute("CREATEDB", lambda role: False, lambda row: row.createdb, False),
    RoleAttribute("CREATEROLE", lambda role: False, lambda row: row.createrole, False),
    # Only the replicas' login has it.
    RoleAttribute("REPLICATION", lambda role: role.replication, lambda row: row.replication, False),
    RoleAttribute("BYPASSRLS", lambda role: False, lambda row: row.bypassrls, False),
    RoleAttribute("INHERIT", lambda role: True, lambda row: row.inherit, True),
    RoleAttribute("CONNECTION LIMIT", lambda role: role.connection_limit, lambda row: row.connection_limit, -1),
    RoleAttribute("VALID UNTIL", lambda role: NO_EXPIRY, lambda row: row.valid_until, NO_EXPIRY),
)  # fmt: skip
"""Every attribute of a layout role the audit compares, one finding each."""


def _shown(value: AttributeValue) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def role_findings(layout: ServerLayout, catalog: PostgresCatalog) -> list[Finding]:
    """Each layout role exists, with each attribute and setting its Role resource gives it."""
    server, findings = layout.name, []
    for role in layout.roles:
        row = catalog.roles.get(role.name)
        if row is None:
            findings.append(Finding(server, "role", role.name, "exists", "missing"))
            continue
        findings += [
            Finding(server, f"role attribute {a.keyword}", role.name, _shown(a.wanted(role)), _shown(a.found(row)))
            for a in ROLE_ATTRIBUTES
            if a.found(row) != a.wanted(role)
        ]
        findings += setting_findings(server, role, row)
    return findings


LIST_SETTINGS = frozenset({"search_path"})
"""Settings whose value is a list of identifiers (PostgreSQL stores `SET search_path TO "a", "b"` as `a, b`)."""


def wanted_settings(role: Role) -> dict[tuple[str, str], str]:
    """(database, setting) -> value: what the provider's Role sets (`ALTER ROLE ... SET search_path TO ...`,
    for every database, or `TO DEFAULT`: none), as PostgreSQL stores it."""
    if not role.search_path:
        return {}
    return {("", "search_path"): ", ".join(_stored_identifier(part) for part in role.search_path)}


def _stored_identifier(name: str) -> str:
    """How a list setting stores an identifier: quoted unless plain lower case (display only; the
    comparison parses both sides)."""
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else '"' + name.replace('"', '""') + '"'


LIST_ELEMENT = re.compile(r'\s*(?:"(?P<quoted>(?:[^"]|"")*)"|(?P<plain>[^",\s]+))\s*(?:,|\Z)')


def _comparable(setting: str, value: str) -> object:
    """A list setting as its identifiers (quoted ones as written, plain ones folded to lower case, as
    PostgreSQL reads them); any other value, or a list that does not parse, as its text."""
    if setting not in LIST_SETTINGS:
        return value
    parts, position = [], 0
    while position < len(value):
        element = LIST_ELEMENT.match(value, position)
        if element is None:
            return value
        quoted = element.group("quoted")
        parts.append(quoted.replace('""', '"') if quoted is not None else element.group("plain").lower())
        position = element.end()
    return tuple(parts)


def _setting_shown(setting: str, value: str | None) -> str:
    """A setting's value as the report prints it: a custom (`prefix.name`) parameter can hold anything,
    an application's secret included, so its value is never printed."""
    if value is None:
        return "-"
    return "(set; value not shown)" if "." in setting else value


def setting_findings(server: str, role: Role, row: RoleRow) -> list[Finding]:
    """The role's settings, for every database and for the audited one, against what its Role resource
    sets: one finding per setting changed, missing or extra."""
    wanted = wanted_settings(role)
    found = {(s.database, s.name): s.value for s in row.settings}
    findings = []
    for database, setting in sorted(wanted.keys() | found.keys()):
        want, have = wanted.get((database, setting)), found.get((database, setting))
        if want is not None and have is not None and _comparable(setting, want) == _comparable(setting, have):
            continue
        where = f" in database {database}" if database else ""
        findings.append(Finding(server, f"role setting {setting}{where}", role.name, _setting_shown(setting, want),
                                _setting_shown(setting, have)))  # fmt: skip
    return findings


def described(row: RoleRow) -> str:
    """A role's attributes as CREATE ROLE spells them: LOGIN or NOLOGIN, then each one off its default."""
    return " ".join(
        a.spelled(a.found(row)) for a in ROLE_ATTRIBUTES if a.keyword == "LOGIN" or a.found(row) != a.default
    )


def platform_roles(layout: ServerLayout, catalog: PostgresCatalog) -> set[str]:
    """Roles of the platform beside a managed (non-superuser) admin: superusers, and the roles whose
    privileges the admin inherits, through roles that are not the layout's (none beside a superuser)."""
    if layout.server.superuser:
        return set()
    layout_roles = {r.name for r in layout.roles}
    platform = {name for name, row in catalog.roles.items() if row.superuser}
    reached, frontier = set(), [layout.server.admin_user]
    while frontier:
        member = frontier.pop()
        for group, inheritor in catalog.inheriting:
            if inheritor == member and group not in layout_roles and group not in reached:
                reached.add(group)
                frontier.append(group)
    return platform | reached


def unknown_role_findings(layout: ServerLayout, catalog: PostgresCatalog) -> list[Finding]:
    """Roles on the server that neither the layout, PostgreSQL, the admin nor the platform accounts for."""
    known = {r.name for r in layout.roles} | {layout.server.admin_user} | platform_roles(layout, catalog)
    return [
        Finding(layout.name, "role", name, "no such login role" if row.login else "no such role", described(row))
        for name, row in catalog.roles.items()
        if name not in known and not name.startswith("pg_")
    ]


def membership_findings(layout: ServerLayout, catalog: PostgresCatalog) -> list[Finding]:
    """Memberships the layout wants and the server lacks, and those of layout roles beyond them."""
    roles = {r.name for r in layout.roles}
    admin = layout.server.admin_user
    found = {
        (group, member)
        for group, member in catalog.memberships
        if (group in roles or member in roles) and not (member == admin and group in roles)
    }
    want = set(layout.memberships)
    return [
        *(Finding(layout.name, f"membership in {g}", m, "MEMBER", "-") for g, m in want - found),
        *(Finding(layout.name, f"membership in {g}", m, "-", "MEMBER") for g, m in found - want),
    ]


def schema_findings(layout: ServerLayout, catalog: PostgresCatalog) -> list[Finding]:
    """Each layout schema exists (those the stack creates owned by their owner); no other schema does."""
    server, findings = layout.name, []
    for schema in layout.schemas:
        owner = catalog.schemas.get(schema.name)
        if owner is None:
            findings.append(Finding(server, f"schema {schema.name}", "-", "exists", "missing"))
        elif schema.created and owner != schema.owner:
            findings.append(Finding(server, f"schema {schema.name}", owner, f"owner {schema.owner}", f"owner {owner}"))
    known = {s.name for s in layout.schemas} | ALWAYS_THERE
    findings += [
        Finding(server, f"schema {name}", owner, "no such schema", "exists")
        for name, owner in catalog.schemas.items()
        if name not in known
    ]
    return findings


def ownership_findings(layout: ServerLayout, catalog: PostgresCatalog) -> list[Finding]:
    """Every object in a layout schema is owned by the schema's owner, who runs its migrations."""
    owners = {s.name: s.owner for s in layout.schemas}
    return [
        Finding(layout.name, f"{obj.kind} {obj.schema}.{obj.name}", obj.owner, f"owner {owners[obj.schema]}",
                f"owner {obj.owner}")
        for obj in catalog.objects
        if obj.schema in owners and obj.owner != owners[obj.schema]
    ]  # fmt: skip


def usage_findings(layout: ServerLayout, effective_usage: set[tuple[str, str]]) -> list[Finding]:
    """Each login role has USAGE on exactly the schemas of its access cells (whatever grants it)."""
    logins = {r.name for r in layout.logins}
    schemas = {s.name for s in layout.schemas}
    want = {(a.role, a.schema) for a in layout.access}
    found = {(role, schema) for role, schema in effective_usage if role in logins and schema in schemas}
    server = layout.name
    return [
        *(Finding(server, f"effective USAGE on schema {s}", r, "USAGE", "-") for r, s in want - found),
        *(Finding(server, f"effective USAGE on schema {s}", r, "-", "USAGE") for r, s in found - want),
    ]


def mapping_findings(layout: ServerLayout, catalog: PostgresCatalog) -> list[Finding]:
    """Exactly the layout's user mappings, each logging in as the remote read-only role; no other."""
    server, wanted, found = layout.name, layout.user_mappings, catalog.user_mappings
    findings = []
    for (foreign_server, role), remote in sorted(wanted.items()):
        live = found.get((foreign_server, role))
        if live is None:
            findings.append(Finding(server, f"user mapping on {foreign_server}", role, f"as {remote}", "missing"))
        elif live != remote:
            findings.append(Finding(server, f"user mapping on {foreign_server}", role, f"as {remote}", f"as {live}"))
    findings += [
        Finding(server, f"user mapping on {foreign_server}", role, "no mapping", f"as {live or '?'}")
        for (foreign_server, role), live in sorted(found.items())
        if (foreign_server, role) not in wanted
    ]
    return findings


CHECKS: tuple[Callable[[ServerLayout, PostgresCatalog], list[Finding]], ...] = (
    role_findings,
    unknown_role_findings,
    membership_findings,
    schema_findings,
    ownership_findings,
    privilege_findings,
    mapping_findings,
)


def audit_postgres(
    layout: ServerLayout, catalog: PostgresCatalog, effective_usage: set[tuple[str, str]]
) -> list[Finding]:
    """Findings for one PostgreSQL server. `effective_usage`: (login role, schema) with USAGE now."""
    findings = [finding for check in CHECKS for finding in check(layout, catalog)]
    return sorted(set(findings + usage_findings(layout, effective_usage)))


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
            layout = topology.layouts[name]
            with psycopg.connect(make_conninfo(dsn, dbname=spec.database), connect_timeout=10) as connection:
                catalog = read_postgres(connection, name)
                logins = [r.name for r in layout.logins]
                schemas = [s.name for s in layout.schemas]
                findings += audit_postgres(layout, catalog, effective_usage(connection, logins, schemas))
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
