"""What the providers' Read puts into a resource's state (`pulumi refresh`, `pulumi up --refresh`),
and the live facts a `ServerContext` needs, read from a server with the providers' own queries.

After a refresh the engine diffs the program's inputs against the refreshed state: an input the
read changed is an update on the next `pulumi up` (e.g. a Role's `roles` now listing memberships
that GrantRole resources made, which the Role update then revokes).

Connections are psycopg (PostgreSQL) or PyMySQL (MySQL) connections in autocommit mode.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from resource_types import (
    MYSQL_DATABASE,
    MYSQL_GRANT,
    MYSQL_USER,
    PG_DATABASE,
    PG_DEFAULT_PRIVILEGES,
    PG_GRANT,
    PG_GRANT_ROLE,
    PG_PHYSICAL_SLOT,
    PG_ROLE,
    PG_SCHEMA,
)
from review.capture.program import Resource, unwrap_secrets
from review.providers.core import ServerContext
from review.providers.lifecycle import inputs_of

_GRANT_PRIVILEGES = {
    "database": ["CREATE", "CONNECT", "TEMPORARY"],
    "schema": ["CREATE", "USAGE"],
    "table": ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"],
    "sequence": ["USAGE", "SELECT", "UPDATE"],
}
_RELKIND = {"table": "r", "sequence": "S"}
_DEFAULT_ACL_TYPE = {"table": "r", "sequence": "S", "function": "f", "routine": "f", "type": "T", "schema": "n"}


def _privileges_equal(granted: set[str], wanted: set[str], object_type: str) -> bool:
    """helpers.go resourcePrivilegesEqual: ALL equals every privilege of the type."""
    if granted == wanted:
        return True
    return "ALL" in wanted and granted == set(_GRANT_PRIVILEGES.get(object_type, []))


def refreshed_inputs(resource: Resource, connection: Any, ctx: ServerContext) -> dict[str, Any] | None:
    """The resource's inputs as its provider's Read leaves them in the state, or None when the read
    finds the object gone (the engine then drops it from the state and the next `up` creates it).

    Secrets stay as they were (the Role read keeps the state's password when the server holds a
    SCRAM hash, as it does by default). Types whose read changes nothing the program sets return
    the inputs unchanged.
    """
    inputs = inputs_of(resource)
    plain = unwrap_secrets(inputs)
    reader = _READERS.get(resource.type)
    if reader is None:
        return inputs
    changes = reader(plain, connection, ctx)
    if changes is None:
        return None
    return {**inputs, **changes}


def _role(plain: dict[str, Any], connection: Any, _ctx: ServerContext) -> dict[str, Any] | None:
    """resource_postgresql_role.go resourcePostgreSQLRoleReadImpl: `roles` := every membership."""
    row = connection.execute(
        "SELECT ARRAY(SELECT pg_get_userbyid(roleid) FROM pg_catalog.pg_auth_members members"
        " WHERE member = pg_roles.oid), rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,"
        " rolconnlimit, COALESCE(rolvaliduntil::TEXT, 'infinity'), rolconfig, rolreplication, rolbypassrls"
        " FROM pg_catalog.pg_roles WHERE rolname = %s",
        (plain["name"],),
    ).fetchone()
    if row is None:
        return None
    roles, superuser, inherit, create_role, create_db, login, limit, valid, config, replication, bypass = row
    search_path: list[str] = []
    for setting in config or []:
        if setting.startswith("search_path"):  # readSearchPath
            search_path = [part.strip('"') for part in setting.removeprefix("search_path=").split(", ")]
    return {
        "roles": sorted(set(roles)),
        "superuser": superuser,
        "inherit": inherit,
        "createRole": create_role,
        "createDatabase": create_db,
        "login": login,
        "connectionLimit": limit,
        "validUntil": valid,
        "replication": replication,
        "bypassRowLevelSecurity": bypass,
        "searchPaths": search_path,
    }


def _grant_role(plain: dict[str, Any], connection: Any, _ctx: ServerContext) -> dict[str, Any] | None:
    """resource_postgresql_grant_role.go readGrantRole: gone when the membership is."""
    row = connection.execute(
        "SELECT admin_option FROM pg_auth_members WHERE pg_get_userbyid(member) = %s AND pg_get_userbyid(roleid) = %s",
        (plain["role"], plain["grantRole"]),
    ).fetchone()
    return None if row is None else {"withAdminOption": bool(row[0])}


def _schema(plain: dict[str, Any], connection: Any, _ctx: ServerContext) -> dict[str, Any] | None:
    """resource_postgresql_schema.go resourcePostgreSQLSchemaReadImpl: the owner (run in its database)."""
    row = connection.execute(
        "SELECT pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace n WHERE n.nspname = %s",
        (plain["name"],),
    ).fetchone()
    return None if row is None else {"owner": row[0]}


def _grant(plain: dict[str, Any], connection: Any, _ctx: ServerContext) -> dict[str, Any] | None:
    """resource_postgresql_grant.go readRolePrivileges (run in its database): `privileges` := the
    first object's privileges that differ from the wanted ones."""
    role, object_type = plain["role"], plain["objectType"]
    wanted = set(plain["privileges"])
    if role != "public" and not connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
        return None  # checkRoleDBSchemaExists
    oid = (
        0
        if role == "public"
        else connection.execute("SELECT oid FROM pg_roles WHERE rolname = %s", (role,)).fetchone()[0]
    )
    if object_type in ("database", "schema"):
        table, column, key = (
            ("pg_database", "datacl", "datname") if object_type == "database" else ("pg_namespace", "nspacl", "nspname")
        )
        name = plain["database"] if object_type == "database" else plain["schema"]
        row = connection.execute(
            f"SELECT array_agg(privilege_type) FROM (SELECT (aclexplode({column})).* FROM {table} WHERE {key} = %s)"
            " AS privileges WHERE grantee = %s",
            (name, oid),
        ).fetchone()
        granted = set(row[0] or [])
        return {} if _privileges_equal(granted, wanted, object_type) else {"privileges": sorted(granted)}
    rows = connection.execute(
        "SELECT pg_class.relname, array_remove(array_agg(privilege_type), NULL) FROM pg_class"
        " JOIN pg_namespace ON pg_namespace.oid = pg_class.relnamespace LEFT JOIN ("
        " SELECT acls.* FROM (SELECT relname, relnamespace, relkind, (aclexplode(relacl)).* FROM pg_class c) AS acls"
        " WHERE grantee = %s) privs USING (relname, relnamespace, relkind)"
        " WHERE nspname = %s AND relkind = %s GROUP BY pg_class.relname",
        (oid, plain["schema"], _RELKIND[object_type]),
    ).fetchall()
    objects = set(plain.get("objects") or [])
    for name, privileges in rows:
        if objects and name not in objects:
            continue
        if not _privileges_equal(set(privileges), wanted, object_type):
            return {"privileges": sorted(set(privileges))}
    return {}


def _default_privileges(plain: dict[str, Any], connection: Any, _ctx: ServerContext) -> dict[str, Any] | None:
    """resource_postgresql_default_privileges.go readRoleDefaultPrivileges (run in its database)."""
    role = plain["role"]
    oid_row = connection.execute("SELECT oid FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if role != "public" and oid_row is None:
        return None
    oid = 0 if role == "public" else oid_row[0]
    kind = _DEFAULT_ACL_TYPE[plain["objectType"]]
    if plain.get("schema"):
        row = connection.execute(
            "SELECT array_agg(prtype) FROM (SELECT defaclnamespace, (aclexplode(defaclacl)).* FROM pg_default_acl"
            " WHERE defaclobjtype = %s) AS t (namespace, grantor_oid, grantee_oid, prtype, grantable)"
            " JOIN pg_namespace ON pg_namespace.oid = namespace"
            " WHERE grantee_oid = %s AND nspname = %s AND pg_get_userbyid(grantor_oid) = %s",
            (kind, oid, plain["schema"], plain["owner"]),
        ).fetchone()
    else:
        row = connection.execute(
            "SELECT array_agg(prtype) FROM (SELECT defaclnamespace, (aclexplode(defaclacl)).* FROM pg_default_acl"
            " WHERE defaclobjtype = %s) AS t (namespace, grantor_oid, grantee_oid, prtype, grantable)"
            " WHERE grantee_oid = %s AND namespace = 0 AND pg_get_userbyid(grantor_oid) = %s",
            (kind, oid, plain["owner"]),
        ).fetchone()
    granted = set(row[0] or [])
    if not granted and plain["privileges"]:
        return None  # "We consider no privileges as 'not exists'"
    return (
        {}
        if _privileges_equal(granted, set(plain["privileges"]), plain["objectType"])
        else {"privileges": sorted(granted)}
    )


def _database(plain: dict[str, Any], connection: Any, _ctx: ServerContext) -> dict[str, Any] | None:
    """resource_postgresql_database.go resourcePostgreSQLDatabaseReadImpl: owner, connection limit, flags."""
    row = connection.execute(
        "SELECT pg_catalog.pg_get_userbyid(d.datdba), d.datconnlimit, d.datallowconn, d.datistemplate"
        " FROM pg_database d WHERE datname = %s",
        (plain["name"],),
    ).fetchone()
    if row is None:
        return None
    owner, limit, allow, template = row
    return {"owner": owner, "connectionLimit": limit, "allowConnections": allow, "isTemplate": template}


def _mysql_database(plain: dict[str, Any], connection: Any, _ctx: ServerContext) -> dict[str, Any] | None:
    """v1.9.0 resource_database.go ReadDatabase: charset and collation parsed from SHOW CREATE DATABASE."""
    import pymysql

    with connection.cursor() as cursor:
        try:
            cursor.execute("SHOW CREATE DATABASE `" + str(plain["name"]).replace("`", "``") + "`")
        except pymysql.err.OperationalError as error:
            if error.args and error.args[0] == 1049:
                return None
            raise
        create_sql = cursor.fetchone()[1]
        charset = _ident_after(create_sql, "CHARACTER SET ")
        collation = _ident_after(create_sql, "COLLATE ")
        if not collation and charset:
            cursor.execute("SHOW COLLATION WHERE `Charset` = %s AND `Default` = 'Yes'", (charset,))
            collation = cursor.fetchone()[0]
    return {"defaultCharacterSet": charset, "defaultCollation": collation}


def _ident_after(sql: str, keyword: str) -> str:
    """extractIdentAfter: the text up to the next space (an error upstream when there is none)."""
    index = sql.find(keyword)
    if index == -1:
        return ""
    rest = sql[index + len(keyword) :]
    return rest[: rest.index(" ")] if " " in rest else rest


def _mysql_user(plain: dict[str, Any], connection: Any, _ctx: ServerContext) -> dict[str, Any] | None:
    """v1.9.0 resource_user.go ReadUser: only whether a user of that name exists (any host)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT USER FROM mysql.user WHERE USER = %s", (plain["user"],))
        return {} if cursor.fetchone() else None


def _mysql_grant(plain: dict[str, Any], connection: Any, _ctx: ServerContext) -> dict[str, Any] | None:
    """v1.9.0 resource_grant.go ReadGrant: SHOW GRANTS succeeds -> unchanged; privileges are not read."""
    import pymysql

    with connection.cursor() as cursor:
        try:
            cursor.execute(f"SHOW GRANTS FOR '{plain['user']}'@'{plain['host']}'")
        except pymysql.err.MySQLError:
            return None
    return {}


def _physical_slot(plain: dict[str, Any], connection: Any, _ctx: ServerContext) -> dict[str, Any] | None:
    """resource_postgresql_physical_replication_slot.go Exists, then Read: gone when no physical slot
    of that name is; the read sets `name` from the id (the name)."""
    row = connection.execute(
        "SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = %s and slot_type = 'physical'",
        (plain["name"],),
    ).fetchone()
    return None if row is None else {"name": plain["name"]}


_READERS = {
    PG_PHYSICAL_SLOT: _physical_slot,
    PG_ROLE: _role,
    PG_GRANT_ROLE: _grant_role,
    PG_SCHEMA: _schema,
    PG_GRANT: _grant,
    PG_DEFAULT_PRIVILEGES: _default_privileges,
    PG_DATABASE: _database,
    MYSQL_DATABASE: _mysql_database,
    MYSQL_USER: _mysql_user,
    MYSQL_GRANT: _mysql_grant,
}


def live_context(ctx: ServerContext, connections: dict[str, Any]) -> ServerContext:
    """`ctx` with what the provider would find live: each role's memberships, the admin's own
    memberships, table owners per schema (helpers.go getTablesOwner) and the schemas that exist, read through
    `connections` (database -> psycopg connection; server-wide facts from any of them)."""
    if ctx.engine != "postgresql" or not connections:
        return ctx
    any_connection = next(iter(connections.values()))
    memberships: dict[str, list[str]] = {}
    for member, group in any_connection.execute(
        "SELECT pg_get_userbyid(member), pg_get_userbyid(roleid) FROM pg_catalog.pg_auth_members"
    ).fetchall():
        memberships.setdefault(member, []).append(group)
    member_of = {
        row[0]
        for row in any_connection.execute(
            "SELECT pg_get_userbyid(roleid) FROM pg_auth_members WHERE pg_get_userbyid(member) = %s"
            + (" AND set_option" if _has_set_option(any_connection) else ""),
            (ctx.admin_user,),
        ).fetchall()
    }
    table_owners: dict[tuple[str, str], tuple[str, ...]] = {}
    existing_schemas: set[tuple[str, str]] = set()
    for database, connection in connections.items():
        for schema, owner in connection.execute(
            "SELECT DISTINCT schemaname, tableowner FROM pg_tables ORDER BY 1, 2"
        ).fetchall():
            table_owners[(database, schema)] = (*table_owners.get((database, schema), ()), owner)
        # resource_postgresql_schema.go createSchema / schemaExists
        existing_schemas |= {(database, row[0]) for row in connection.execute("SELECT nspname FROM pg_namespace")}
    return dataclasses.replace(
        ctx,
        memberships={member: tuple(groups) for member, groups in memberships.items()},
        admin_member_of=frozenset(member_of),
        table_owners=table_owners,
        existing_schemas=frozenset(existing_schemas),
    )


def _has_set_option(connection: Any) -> bool:
    """helpers.go isMemberOfRole: PostgreSQL 16+ counts only memberships with SET."""
    return bool(
        connection.execute(
            "SELECT 1 FROM information_schema.columns"
            " WHERE table_name = 'pg_auth_members' AND column_name = 'set_option'"
        ).fetchone()
    )
