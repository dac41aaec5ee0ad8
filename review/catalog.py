"""Live catalog reads: what a PostgreSQL or MySQL server actually grants."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

RELATION_KINDS = "'r', 'p', 'v', 'm', 'f', 'S'"
"""Tables, partitioned tables, views, materialized views, foreign tables, sequences."""


@dataclass(frozen=True)
class RoleRow:
    """pg_roles, the attributes the layout cares about."""

    name: str
    login: bool
    superuser: bool
    createdb: bool
    createrole: bool
    replication: bool
    bypassrls: bool
    inherit: bool
    config: tuple[str, ...]
    connection_limit: int = -1
    """rolconnlimit (-1: none)."""


@dataclass
class PostgresCatalog:
    """One database's roles, memberships, schemas and ACLs, as sets of plain tuples."""

    roles: dict[str, RoleRow] = field(default_factory=dict)
    memberships: set[tuple[str, str]] = field(default_factory=set)
    """(group, member)"""
    schemas: dict[str, str] = field(default_factory=dict)
    """schema -> owner"""
    schema_acl: set[tuple[str, str, str]] = field(default_factory=set)
    """(schema, grantee or PUBLIC, privilege), owner's own privileges left out"""
    relation_acl: set[tuple[str, str, str, str, str]] = field(default_factory=set)
    """(schema, relation, kind 'table'|'sequence', grantee, privilege), owner left out"""
    relations: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    """(schema, relation) -> (kind 'table'|'sequence', owner)"""
    default_acl: set[tuple[str, str, str, str, str]] = field(default_factory=set)
    """(owner, schema, kind 'table'|'sequence', grantee, privilege)"""

    def snapshot(self) -> dict[str, Any]:
        """Comparable form (sorted lists) for before/after checks."""
        return {
            "roles": sorted((r.name, r.login, r.superuser, r.createdb, r.createrole, r.replication, r.bypassrls,
                             r.inherit, r.config) for r in self.roles.values()),
            "memberships": sorted(self.memberships),
            "schemas": sorted(self.schemas.items()),
            "schema_acl": sorted(self.schema_acl),
            "relation_acl": sorted(self.relation_acl),
            "default_acl": sorted(self.default_acl),
        }  # fmt: skip


def _grantee(name: str | None) -> str:
    return name if name else "PUBLIC"


def read_postgres(connection: psycopg.Connection[Any]) -> PostgresCatalog:
    """Read the catalog of the database `connection` is connected to."""
    catalog = PostgresCatalog()
    rows = connection.execute(
        "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,"
        " rolinherit, coalesce(rolconfig, '{}'), rolconnlimit FROM pg_roles"
    ).fetchall()
    for name, login, superuser, createdb, createrole, replication, bypassrls, inherit, config, limit in rows:
        catalog.roles[name] = RoleRow(
            name, login, superuser, createdb, createrole, replication, bypassrls, inherit, tuple(config), limit
        )
    catalog.memberships = {
        (group, member)
        for group, member in connection.execute(
            "SELECT g.rolname, m.rolname FROM pg_auth_members a"
            " JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member"
        ).fetchall()
    }
    user_schemas = "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"
    catalog.schemas = dict(
        connection.execute(
            f"SELECT n.nspname, pg_get_userbyid(n.nspowner) FROM pg_namespace n WHERE {user_schemas}"
        ).fetchall()
    )
    catalog.schema_acl = {
        (schema, _grantee(grantee), privilege)
        for schema, grantee, privilege in connection.execute(
            "SELECT n.nspname, g.rolname, a.privilege_type FROM pg_namespace n,"
            " aclexplode(n.nspacl) a LEFT JOIN pg_roles g ON g.oid = a.grantee"
            f" WHERE {user_schemas} AND a.grantee <> n.nspowner"
        ).fetchall()
    }
    relations = connection.execute(
        "SELECT n.nspname, c.relname, c.relkind = 'S', pg_get_userbyid(c.relowner) FROM pg_class c"
        f" JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {user_schemas} AND c.relkind IN ({RELATION_KINDS})"
    ).fetchall()
    catalog.relations = {
        (schema, name): ("sequence" if is_sequence else "table", owner)
        for schema, name, is_sequence, owner in relations
    }
    catalog.relation_acl = {
        (schema, name, "sequence" if is_sequence else "table", _grantee(grantee), privilege)
        for schema, name, is_sequence, grantee, privilege in connection.execute(
            "SELECT n.nspname, c.relname, c.relkind = 'S', g.rolname, a.privilege_type FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a"
            " LEFT JOIN pg_roles g ON g.oid = a.grantee"
            f" WHERE {user_schemas} AND c.relkind IN ({RELATION_KINDS}) AND a.grantee <> c.relowner"
        ).fetchall()
    }
    catalog.default_acl = {
        (owner, schema, "sequence" if kind == "S" else "table", _grantee(grantee), privilege)
        for owner, schema, kind, grantee, privilege in connection.execute(
            "SELECT pg_get_userbyid(d.defaclrole), coalesce(n.nspname, ''), d.defaclobjtype, g.rolname,"
            " a.privilege_type FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace,"
            " aclexplode(d.defaclacl) a LEFT JOIN pg_roles g ON g.oid = a.grantee"
            " WHERE d.defaclobjtype IN ('r', 'S')"
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
