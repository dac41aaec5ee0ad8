"""Live catalog reads: what a PostgreSQL or MySQL server actually grants, and who owns what.

Privileges come back as `topology.model.Privilege` records, the shape the layout states its own in,
so the audit compares the two as sets.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, field
from typing import Any

import psycopg

from topology.model import ObjectType, Privilege

PUBLIC = "PUBLIC"
"""The grantee name of a privilege everyone holds (aclexplode's grantee 0)."""

RELATION_KINDS = "'r', 'p', 'v', 'm', 'f', 'S'"
"""Tables, partitioned tables, views, materialized views, foreign tables, sequences: what GRANT ... ON
ALL TABLES / SEQUENCES IN SCHEMA and default privileges reach."""

OBJECT_KINDS = {
    "r": "table", "p": "partitioned table", "v": "view", "m": "materialized view", "f": "foreign table",
    "S": "sequence", "c": "type",
}  # fmt: skip
"""pg_class.relkind -> name, for the relations and composite types a schema holds (indexes and TOAST
tables always belong to their table's owner)."""

ROUTINE_KINDS = {"f": "function", "p": "procedure", "a": "aggregate", "w": "function"}
"""pg_proc.prokind -> name."""

TYPE_KINDS = {"d": "domain", "e": "type", "r": "type"}
"""pg_type.typtype -> name: domains, enums and ranges (composite types are in pg_class; array and
multirange types follow the type they come with)."""

USER_SCHEMAS = "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"


def _case(column: str, names: dict[str, str]) -> str:
    return f"CASE {column}" + "".join(f" WHEN '{code}' THEN '{name}'" for code, name in names.items()) + " END"


def _codes(names: dict[str, str]) -> str:
    return ", ".join(f"'{code}'" for code in names)


def _not_in_an_extension(catalog: str, oid: str) -> str:
    """An extension's objects belong to whoever created the extension, not to a migration."""
    return (
        f"NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = '{catalog}'::regclass AND d.objid = {oid}"
        " AND d.deptype = 'e')"
    )


OBJECTS = (
    f"SELECT n.nspname, c.relname, {_case('c.relkind', OBJECT_KINDS)}, pg_get_userbyid(c.relowner)"
    f" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_SCHEMAS}"
    f" AND c.relkind IN ({_codes(OBJECT_KINDS)}) AND {_not_in_an_extension('pg_class', 'c.oid')}"
    " UNION ALL"
    " SELECT n.nspname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',"
    f" {_case('p.prokind', ROUTINE_KINDS)}, pg_get_userbyid(p.proowner)"
    f" FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {USER_SCHEMAS}"
    f" AND {_not_in_an_extension('pg_proc', 'p.oid')}"
    " UNION ALL"
    f" SELECT n.nspname, t.typname, {_case('t.typtype', TYPE_KINDS)}, pg_get_userbyid(t.typowner)"
    f" FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {USER_SCHEMAS}"
    f" AND t.typtype IN ({_codes(TYPE_KINDS)}) AND {_not_in_an_extension('pg_type', 't.oid')}"
)
"""Every relation, composite type, routine, domain, enum and range of the user schemas: (schema, name, kind,
owner)."""


NO_EXPIRY = "infinity"
"""rolvaliduntil of a role whose password never expires: what the provider's Role sets (its `valid_until`
default), and how its read reports NULL (`COALESCE(rolvaliduntil::TEXT, 'infinity')`)."""

VALID_UNTIL = (
    f"CASE WHEN rolvaliduntil IS NULL THEN '{NO_EXPIRY}' WHEN isfinite(rolvaliduntil)"
    " THEN to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC'"
    " ELSE rolvaliduntil::text END"
)
"""rolvaliduntil as text whatever the session's DateStyle and TimeZone: `2030-01-01 00:00:00 UTC`, or
`infinity` / `-infinity`."""


@dataclass(frozen=True, order=True)
class RoleSetting:
    """One `ALTER ROLE ... [IN DATABASE ...] SET name = value` (a row of pg_db_role_setting)."""

    database: str
    """The database it applies in (`IN DATABASE`); "" for every database."""
    name: str
    value: str
    """As PostgreSQL stores it: a list (search_path) as `a, "B"`."""


@dataclass(frozen=True)
class RoleRow:
    """pg_roles, the attributes the layout cares about, and the role's settings."""

    name: str
    login: bool
    superuser: bool
    createdb: bool
    createrole: bool
    replication: bool
    bypassrls: bool
    inherit: bool
    connection_limit: int = -1
    """rolconnlimit (-1: none)."""
    valid_until: str = NO_EXPIRY
    """rolvaliduntil (see `VALID_UNTIL`)."""
    settings: tuple[RoleSetting, ...] = ()
    """Its settings for every database and for the database read (those for other databases left out)."""


@dataclass(frozen=True, order=True)
class CatalogObject:
    """A relation, routine or type in a user schema, and its owner."""

    schema: str
    name: str
    """Relation or type name; a routine's name with its argument types (`f(integer)`)."""
    kind: str
    """table, partitioned table, view, materialized view, foreign table, sequence, type, domain, function,
    procedure or aggregate."""
    owner: str

    @property
    def object_type(self) -> ObjectType | None:
        """What GRANT ... ON ALL TABLES / SEQUENCES reaches it as; None for a type or routine."""
        if self.kind == "sequence":
            return ObjectType.SEQUENCE
        if self.kind in ("type", "domain") or self.kind in ROUTINE_KINDS.values():
            return None
        return ObjectType.TABLE


@dataclass
class PostgresCatalog:
    """One database's roles, memberships, schemas, objects and privileges."""

    server: str
    """The stack's name of the server read."""
    database: str
    """The database read (schemas, objects and privileges are per database; roles are server-wide)."""
    roles: dict[str, RoleRow] = field(default_factory=dict)
    memberships: set[tuple[str, str]] = field(default_factory=set)
    """(group, member)"""
    inheriting: set[tuple[str, str]] = field(default_factory=set)
    """The memberships through which the member uses the group's privileges without SET ROLE (INHERIT)."""
    schemas: dict[str, str] = field(default_factory=dict)
    """schema -> owner (pg_* schemas and information_schema left out)"""
    objects: set[CatalogObject] = field(default_factory=set)
    """What the user schemas hold, extensions' objects left out."""
    privileges: set[Privilege] = field(default_factory=set)
    """Schema ACLs, relation ACLs (`relation` set) and default ACLs (`default_for` set; schema "" for
    one in every schema); an owner's own privileges on what it owns are left out."""
    user_mappings: dict[tuple[str, str], str] = field(default_factory=dict)
    """(foreign server, local role or `public`) -> the remote login its `user` option names ("" if none);
    the `password` option is never read."""

    def snapshot(self) -> dict[str, Any]:
        """Comparable form (sorted lists) for before/after checks."""
        return {
            "roles": sorted(astuple(r) for r in self.roles.values()),
            "memberships": sorted(self.memberships),
            "schemas": sorted(self.schemas.items()),
            "objects": sorted(self.objects),
            "privileges": sorted(self.privileges, key=privilege_sort_key),
        }  # fmt: skip


def privilege_sort_key(p: Privilege) -> tuple[str, ...]:
    """A total order on privileges (`default_for` and `relation` may be None)."""
    return (p.server, p.database, p.schema, p.object_type.value, p.grantee, p.privilege,
            p.default_for or "", p.relation or "")  # fmt: skip


def _grantee(name: str | None) -> str:
    return name if name else PUBLIC


def _object_type(relkind: str) -> ObjectType:
    return ObjectType.SEQUENCE if relkind == "S" else ObjectType.TABLE


def read_postgres(connection: psycopg.Connection[Any], server: str) -> PostgresCatalog:
    """Read the catalog of the database `connection` is connected to (`server`: the stack's name for it).

    A fixed number of queries, whatever the number of objects.
    """
    database = connection.info.dbname
    catalog = PostgresCatalog(server, database)
    settings: dict[str, list[RoleSetting]] = {}
    for role, applies_in, config in connection.execute(
        "SELECT r.rolname, coalesce(d.datname, ''), s.setconfig FROM pg_db_role_setting s"
        " JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase"
        " WHERE s.setdatabase = 0 OR d.datname = current_database()"
    ).fetchall():
        for entry in config or ():  # `name=value`
            setting, _, value = entry.partition("=")
            settings.setdefault(role, []).append(RoleSetting(applies_in, setting, value))
    rows = connection.execute(
        "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,"
        f" rolinherit, rolconnlimit, {VALID_UNTIL} FROM pg_roles"
    ).fetchall()
    for name, login, superuser, createdb, createrole, replication, bypassrls, inherit, limit, valid_until in rows:
        catalog.roles[name] = RoleRow(
            name, login, superuser, createdb, createrole, replication, bypassrls, inherit, limit, valid_until,
            tuple(sorted(settings.get(name, ()))),
        )  # fmt: skip
    # PostgreSQL 16 made INHERIT a property of each grant; before, of the member role.
    inherits = "a.inherit_option" if connection.info.server_version >= 160000 else "m.rolinherit"
    for group, member, inherited in connection.execute(
        f"SELECT g.rolname, m.rolname, {inherits} FROM pg_auth_members a"
        " JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member"
    ).fetchall():
        catalog.memberships.add((group, member))
        if inherited:
            catalog.inheriting.add((group, member))
    catalog.schemas = dict(
        connection.execute(
            f"SELECT n.nspname, pg_get_userbyid(n.nspowner) FROM pg_namespace n WHERE {USER_SCHEMAS}"
        ).fetchall()
    )
    catalog.objects = {
        CatalogObject(schema, name, kind, owner) for schema, name, kind, owner in connection.execute(OBJECTS).fetchall()
    }
    catalog.privileges = {
        Privilege(server, database, schema, ObjectType.SCHEMA, _grantee(grantee), privilege)
        for schema, grantee, privilege in connection.execute(
            "SELECT n.nspname, g.rolname, a.privilege_type FROM pg_namespace n,"
            " aclexplode(n.nspacl) a LEFT JOIN pg_roles g ON g.oid = a.grantee"
            f" WHERE {USER_SCHEMAS} AND a.grantee <> n.nspowner"
        ).fetchall()
    }
    catalog.privileges |= {
        Privilege(server, database, schema, _object_type(kind), _grantee(grantee), privilege, relation=name)
        for schema, name, kind, grantee, privilege in connection.execute(
            "SELECT n.nspname, c.relname, c.relkind, g.rolname, a.privilege_type FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a"
            " LEFT JOIN pg_roles g ON g.oid = a.grantee"
            f" WHERE {USER_SCHEMAS} AND c.relkind IN ({RELATION_KINDS}) AND a.grantee <> c.relowner"
        ).fetchall()
    }
    catalog.privileges |= {
        Privilege(server, database, schema, _object_type(kind), _grantee(grantee), privilege, default_for=owner)
        for owner, schema, kind, grantee, privilege in connection.execute(
            "SELECT pg_get_userbyid(d.defaclrole), coalesce(n.nspname, ''), d.defaclobjtype, g.rolname,"
            " a.privilege_type FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace,"
            " aclexplode(d.defaclacl) a LEFT JOIN pg_roles g ON g.oid = a.grantee"
            " WHERE d.defaclobjtype IN ('r', 'S')"
        ).fetchall()
    }
    catalog.user_mappings = {
        (server_name, user): remote or ""
        for server_name, user, remote in connection.execute(
            "SELECT m.srvname, m.usename, (SELECT split_part(o, '=', 2) FROM unnest(m.umoptions) o"
            " WHERE o LIKE 'user=%') FROM pg_user_mappings m"
        ).fetchall()
    }
    return catalog


def read_mysql_grants(connection: Any, user: str, host: str) -> list[str] | None:
    """`SHOW GRANTS` lines of one account (a PyMySQL connection); None if it does not exist."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM mysql.user WHERE user = %s AND host = %s", (user, host))
        if cursor.fetchone() is None:
            return None
        cursor.execute("SHOW GRANTS FOR %s@%s", (user, host))
        return [str(row[0]) for row in cursor.fetchall()]
