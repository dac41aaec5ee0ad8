"""The SQL model statement by statement: each resource type, each operation, superuser admin and not.

Expected statements are written out from the provider sources the model follows (named in
review/providers/lifecycle.py): a builder that drifts from them fails here, not on a production server.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from resource_types import (
    DYNAMIC_RESOURCE,
    MYSQL_DATABASE,
    MYSQL_GRANT,
    MYSQL_USER,
    PG_DATABASE,
    PG_DEFAULT_PRIVILEGES,
    PG_EXTENSION,
    PG_FOREIGN_SERVER,
    PG_GRANT,
    PG_GRANT_ROLE,
    PG_ROLE,
    PG_SCHEMA,
    PG_USER_MAPPING,
)
from review.capture.program import Resource, Secret, run_program
from review.providers import (
    SecretStyle,
    ServerContext,
    UnsupportedResourceError,
    create_steps,
    delete_steps,
    has_update,
    replace_keys,
    server_context,
    set_order,
    update_steps,
)
from tests.review.conftest import plan_for

SUPERUSER = ServerContext(server="main", engine="postgresql", admin_user="postgres", provider_database="engarde")
MANAGED = dataclasses.replace(SUPERUSER, admin_user="admin", admin_is_superuser=False)
MYSQL = ServerContext(server="scheduler", engine="mysql", admin_user="root")


def resource(type_: str, inputs: dict[str, Any], label: str = "r") -> Resource:
    urn = f"urn:pulumi:dev::engarde::{type_}::{label}"
    return Resource(urn, type_, label, None, True, inputs, [], {}, None, False, False)


LOCK = "SET statement_timeout = 0"
"""helpers.go pgLockRole / pgLockDatabase, first in their transaction."""


def statements(steps: list[Any]) -> list[str]:
    return [statement for step in steps for statement in step.statements]


LOGIN = {"name": "madansara_user", "login": True, "password": Secret("pw'1\\x"), "searchPaths": ["madansara", "public"]}
ROLE_OPTIONS = "VALID UNTIL 'infinity' CONNECTION LIMIT -1 NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT"


# Role ---------------------------------------------------------------------------------------------


def test_role_create_is_a_plain_create_role_with_quoting_as_the_provider_does_it() -> None:
    steps = create_steps(resource(PG_ROLE, {**LOGIN, "roles": ["pg_monitor", "audit_append"]}), SUPERUSER)
    assert statements(steps) == [
        "CREATE ROLE \"madansara_user\" WITH ENCRYPTED PASSWORD 'pw''1\\\\x' "
        f"{ROLE_OPTIONS} LOGIN NOBYPASSRLS NOREPLICATION",
        *[f'GRANT "{group}" TO "madansara_user"' for group in set_order(["pg_monitor", "audit_append"])],
        'ALTER ROLE "madansara_user" SET search_path TO "madansara", "public"',
    ]
    assert steps[0].transaction and steps[0].database is None


def test_role_create_refers_to_the_password_as_a_psql_variable() -> None:
    ctx = dataclasses.replace(SUPERUSER, secrets=SecretStyle.VARIABLES)
    first = statements(create_steps(resource(PG_ROLE, LOGIN), ctx))[0]
    assert "PASSWORD :'main_madansara_user_password' VALID" in first
    group = statements(create_steps(resource(PG_ROLE, {"name": "group_read"}), ctx))
    assert group == [
        f'CREATE ROLE "group_read" WITH {ROLE_OPTIONS} NOLOGIN NOBYPASSRLS NOREPLICATION',
        'ALTER ROLE "group_read" SET search_path TO DEFAULT',
    ]


def test_role_update_revokes_every_membership_and_grants_back_only_roles() -> None:
    ctx = dataclasses.replace(SUPERUSER, memberships={"madansara_user": ("audit_append", "madansara_read")})
    old = resource(PG_ROLE, LOGIN)
    new = resource(PG_ROLE, {**LOGIN, "password": Secret("rotated")})
    assert statements(update_steps(old, new, ctx)) == [
        LOCK,
        "ALTER ROLE \"madansara_user\" PASSWORD 'rotated'",
        'REVOKE "audit_append" FROM "madansara_user"',
        'REVOKE "madansara_read" FROM "madansara_user"',
        'ALTER ROLE "madansara_user" SET search_path TO "madansara", "public"',
    ]
    with_roles = resource(PG_ROLE, {**LOGIN, "roles": ["audit_append", "madansara_read"]})
    unchanged = statements(update_steps(with_roles, with_roles, ctx))
    assert unchanged[:3] == [
        LOCK,
        'REVOKE "audit_append" FROM "madansara_user"',
        'REVOKE "madansara_read" FROM "madansara_user"',
    ]
    assert sorted(unchanged[3:5]) == [
        'GRANT "audit_append" TO "madansara_user"',
        'GRANT "madansara_read" TO "madansara_user"',
    ]


def test_role_update_sets_only_changed_attributes_in_the_providers_order() -> None:
    old = resource(PG_ROLE, LOGIN)
    new = resource(PG_ROLE, {**LOGIN, "login": False, "createDatabase": True, "searchPaths": []})
    assert statements(update_steps(old, new, SUPERUSER)) == [
        LOCK,
        'ALTER ROLE "madansara_user" WITH CREATEDB',
        'ALTER ROLE "madansara_user" WITH NOLOGIN',
        'ALTER ROLE "madansara_user" SET search_path TO DEFAULT',
    ]


def test_role_delete_locks_then_reassigns_and_drops_owned_unless_skipped() -> None:
    group = resource(PG_ROLE, {"name": "onside_read"})
    assert statements(delete_steps(group, SUPERUSER)) == [
        LOCK,
        'REASSIGN OWNED BY "onside_read" TO "postgres"',
        'DROP OWNED BY "onside_read"',
        'DROP ROLE "onside_read"',
    ]
    assert statements(delete_steps(group, MANAGED)) == [
        LOCK,
        'GRANT "onside_read" TO "admin"',
        'REASSIGN OWNED BY "onside_read" TO "admin"',
        'DROP OWNED BY "onside_read"',
        'REVOKE "onside_read" FROM "admin"',
        'DROP ROLE "onside_read"',
    ]
    circular = dataclasses.replace(MANAGED, memberships={"onside_read": ("admin",)})
    assert statements(delete_steps(group, circular))[:3] == [
        LOCK,
        'REVOKE "admin" FROM "onside_read"',
        'GRANT "onside_read" TO "admin"',
    ]
    owner = resource(PG_ROLE, {**LOGIN, "skipReassignOwned": True})
    assert statements(delete_steps(owner, MANAGED)) == [LOCK, 'DROP ROLE "madansara_user"']


# Grant, DefaultPrivileges -----------------------------------------------------------------------

SCHEMA_OWNERS = {("engarde", "madansara"): "madansara_user"}
TABLES = {"role": "madansara_read", "database": "engarde", "schema": "madansara", "objectType": "table",
          "privileges": ["SELECT"]}  # fmt: skip


def test_grant_create_revokes_all_then_grants_and_elevates_to_table_and_schema_owners() -> None:
    grant = resource(PG_GRANT, TABLES)
    expected = [
        'REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA "madansara" FROM "madansara_read"',
        'GRANT SELECT ON ALL TABLES IN SCHEMA "madansara" TO "madansara_read"',
    ]
    assert statements(create_steps(grant, SUPERUSER)) == [LOCK, *expected]
    assert create_steps(grant, SUPERUSER)[0].database == "engarde"
    managed = dataclasses.replace(
        MANAGED, schema_owners=SCHEMA_OWNERS, table_owners={("engarde", "madansara"): ("migrator", "madansara_user")}
    )
    assert statements(create_steps(grant, managed)) == [
        LOCK,
        'GRANT "migrator" TO "admin"',
        'GRANT "madansara_user" TO "admin"',
        *expected,
        'REVOKE "migrator" FROM "admin"',
        'REVOKE "madansara_user" FROM "admin"',
    ]
    # public belongs to pg_database_owner: the database owner, here the admin itself
    public = resource(PG_GRANT, {**TABLES, "schema": "public", "objectType": "schema", "privileges": []})
    assert statements(create_steps(public, MANAGED)) == [
        LOCK,
        'REVOKE ALL PRIVILEGES ON SCHEMA "public" FROM "madansara_read"',
    ]
    # a database grant also takes pgLockDatabase's lock
    database = resource(PG_GRANT, {**TABLES, "objectType": "database", "schema": "", "privileges": ["CONNECT"]})
    assert statements(create_steps(database, SUPERUSER))[:2] == [LOCK, LOCK]


def test_grant_update_revokes_the_old_privileges_and_delete_revokes() -> None:
    old = resource(PG_GRANT, {**TABLES, "objects": ["t2", "t1"], "privileges": ["SELECT", "UPDATE"]})
    new = resource(PG_GRANT, {**TABLES, "objects": ["t2", "t1"], "privileges": ["INSERT"]})
    listed = ",".join(f'"madansara"."{t}"' for t in set_order(["t2", "t1"]))
    assert statements(update_steps(old, new, SUPERUSER)) == [
        LOCK,
        f'REVOKE {",".join(set_order(["SELECT", "UPDATE"]))} ON TABLE {listed} FROM "madansara_read"',
        f'GRANT INSERT ON TABLE {listed} TO "madansara_read"',
    ]
    assert statements(delete_steps(new, SUPERUSER)) == [
        LOCK,
        f'REVOKE INSERT ON TABLE {listed} FROM "madansara_read"',
    ]
    assert "privileges" not in replace_keys(PG_GRANT) and "schema" in replace_keys(PG_GRANT)


def test_default_privileges_revoke_then_grant_inside_the_owners_elevation() -> None:
    inputs = {**TABLES, "owner": "madansara_user"}
    scope = 'ALTER DEFAULT PRIVILEGES FOR ROLE "madansara_user" IN SCHEMA "madansara"'
    body = [
        f'{scope} REVOKE ALL ON TABLES FROM "madansara_read"',
        f'{scope} GRANT SELECT ON TABLES TO "madansara_read"',
    ]
    dp = resource(PG_DEFAULT_PRIVILEGES, inputs)
    assert statements(create_steps(dp, SUPERUSER)) == [LOCK, *body]
    assert statements(create_steps(dp, MANAGED)) == [
        LOCK,
        'GRANT "madansara_user" TO "admin"',
        *body,
        'REVOKE "madansara_user" FROM "admin"',
    ]
    assert statements(delete_steps(dp, SUPERUSER)) == [LOCK, *body[:1]]
    no_schema = resource(PG_DEFAULT_PRIVILEGES, {**inputs, "schema": ""})
    assert statements(create_steps(no_schema, SUPERUSER))[1] == (
        'ALTER DEFAULT PRIVILEGES FOR ROLE "madansara_user"  REVOKE ALL ON TABLES FROM "madansara_read"'
    )


# Schema, GrantRole, Database --------------------------------------------------------------------


def test_schema_create_and_delete_take_the_branch_the_live_catalog_decides() -> None:
    # createSchema reads pg_namespace first: with the catalog known, the statement it then sends
    schema = resource(PG_SCHEMA, {"name": "onside", "owner": "onside_user", "database": "engarde"})
    absent = dataclasses.replace(SUPERUSER, existing_schemas=frozenset({("engarde", "public")}))
    present = dataclasses.replace(SUPERUSER, existing_schemas=frozenset({("engarde", "onside")}))
    assert statements(create_steps(schema, absent)) == [
        'CREATE SCHEMA IF NOT EXISTS "onside" AUTHORIZATION "onside_user"'
    ]
    assert create_steps(schema, absent)[0].transaction
    assert statements(create_steps(schema, present)) == ['ALTER SCHEMA "onside" OWNER TO "onside_user"']
    assert statements(delete_steps(schema, present)) == ['DROP SCHEMA "onside" RESTRICT']
    assert delete_steps(schema, absent) == []


def test_schema_create_adopts_an_existing_schema_delete_restricts_and_owner_change_is_not_elevated() -> None:
    schema = resource(PG_SCHEMA, {"name": "onside", "owner": "onside_user", "database": "engarde"})
    managed = statements(create_steps(schema, MANAGED))
    assert managed[0] == 'GRANT "onside_user" TO "admin"' and managed[-1] == 'REVOKE "onside_user" FROM "admin"'
    assert 'ALTER SCHEMA "onside" OWNER TO "onside_user";' in managed[1]
    assert 'CREATE SCHEMA IF NOT EXISTS "onside" AUTHORIZATION "onside_user";' in managed[1]
    (drop,) = statements(delete_steps(schema, MANAGED))
    assert "IF EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = 'onside') THEN" in drop
    assert '\n        GRANT "onside_user" TO "admin";\n        DROP SCHEMA "onside" RESTRICT;\n' in drop
    cascade = resource(PG_SCHEMA, {"name": "onside", "owner": "onside_user", "dropCascade": True})
    assert 'DROP SCHEMA "onside" CASCADE;' in statements(delete_steps(cascade, SUPERUSER))[0]
    moved = resource(PG_SCHEMA, {"name": "onside", "owner": "other_user", "database": "engarde"})
    assert statements(update_steps(schema, moved, MANAGED)) == ['ALTER SCHEMA "onside" OWNER TO "other_user"']


def test_grant_role_revokes_then_grants_and_has_no_update() -> None:
    membership = resource(PG_GRANT_ROLE, {"role": "audit_user", "grantRole": "audit_read"})
    assert statements(create_steps(membership, MANAGED)) == [
        'REVOKE "audit_read" FROM "audit_user"',
        'GRANT "audit_read" TO "audit_user"',
    ]
    assert statements(delete_steps(membership, MANAGED)) == ['REVOKE "audit_read" FROM "audit_user"']
    assert not has_update(PG_GRANT_ROLE)
    with pytest.raises(UnsupportedResourceError, match="has no update"):
        update_steps(membership, membership, SUPERUSER)


# Extension, Server, UserMapping ----------------------------------------------------------------

SECOND_PROVIDER = "urn:pulumi:dev::engarde::pulumi:providers:postgresql::main-engarde-provider"
ON_ENGARDE = dataclasses.replace(
    SUPERUSER, provider_database="postgres", provider_databases={SECOND_PROVIDER: "engarde"}
)


def _on_second_provider(type_: str, inputs: dict[str, Any]) -> Resource:
    return dataclasses.replace(resource(type_, inputs), provider=SECOND_PROVIDER)


def test_extension_create_if_not_exists_in_its_database_and_delete_restricts() -> None:
    extension = resource(PG_EXTENSION, {"name": "postgres_fdw", "schema": "public", "database": "engarde"})
    (step,) = create_steps(extension, SUPERUSER)
    assert step.statements == ('CREATE EXTENSION IF NOT EXISTS "postgres_fdw" SCHEMA "public"',)
    assert step.database == "engarde" and step.transaction
    assert statements(delete_steps(extension, SUPERUSER)) == ['DROP EXTENSION "postgres_fdw" RESTRICT ']
    updated = resource(PG_EXTENSION, {"name": "postgres_fdw", "schema": "fdw", "version": "1.1"})
    assert statements(update_steps(extension, updated, SUPERUSER)) == [
        'ALTER EXTENSION "postgres_fdw" SET SCHEMA "fdw"',
        'ALTER EXTENSION "postgres_fdw" UPDATE TO "1.1"',
    ]
    assert {"name", "database"} <= replace_keys(PG_EXTENSION)


def test_foreign_server_runs_on_its_providers_database_with_upstreams_spacing() -> None:
    options = {"host": "flowdb", "port": "5432", "dbname": "lang'flow"}
    server = _on_second_provider(PG_FOREIGN_SERVER, {"serverName": "engarde_flowdb", "fdwName": "postgres_fdw",
                                                     "options": options, "dropCascade": True})  # fmt: skip
    (step,) = create_steps(server, ON_ENGARDE)
    assert step.database == "engarde" and step.transaction
    assert step.statements == (
        'CREATE SERVER "engarde_flowdb" FOREIGN DATA WRAPPER "postgres_fdw" OPTIONS ( '
        """ "dbname" 'lang''flow',  "host" 'flowdb',  "port" '5432' ) """,
    )
    moved = dataclasses.replace(server, inputs={**server.inputs, "options": {"host": "flowdb-2", "sslmode": "require"}})
    assert statements(update_steps(server, moved, ON_ENGARDE)) == [
        """ALTER SERVER "engarde_flowdb"  OPTIONS (  SET "host" 'flowdb-2' ,  ADD "sslmode" 'require'  , """
        """ DROP "dbname"  ,  DROP "port"  ) """
    ]
    assert statements(delete_steps(server, ON_ENGARDE)) == ['DROP SERVER "engarde_flowdb" CASCADE ']
    assert replace_keys(PG_FOREIGN_SERVER) == {"serverType", "fdwName"}
    # A server on the server's own provider runs where that provider connects.
    assert create_steps(dataclasses.replace(server, provider=None), ON_ENGARDE)[0].database == "postgres"


def test_user_mapping_create_is_not_in_a_transaction_and_its_password_is_a_secret_variable() -> None:
    mapping = _on_second_provider(PG_USER_MAPPING, {
        "userName": "analytics_readonly", "serverName": "engarde_flowdb",
        "options": {"user": "engarde_flow_reader", "password": Secret("pw\\1")},
    })  # fmt: skip
    (step,) = create_steps(mapping, ON_ENGARDE)
    assert step.database == "engarde" and not step.transaction
    # lib/pq QuoteLiteral: a backslash makes an E'' string with a leading space.
    assert step.statements == (
        'CREATE USER MAPPING  FOR "analytics_readonly" SERVER "engarde_flowdb" OPTIONS ( '
        """ "password"  E'pw\\\\1',  "user" 'engarde_flow_reader' ) """,
    )
    variables = dataclasses.replace(ON_ENGARDE, secrets=SecretStyle.VARIABLES)
    assert ":'main_analytics_readonly_mapping_password'" in statements(create_steps(mapping, variables))[0]
    rotated = dataclasses.replace(
        mapping, inputs={**mapping.inputs, "options": {"user": "engarde_flow_reader", "password": Secret("new")}}
    )
    assert statements(update_steps(mapping, rotated, ON_ENGARDE)) == [
        'ALTER USER MAPPING  FOR "analytics_readonly" SERVER "engarde_flowdb"  OPTIONS ( '
        """ SET "password" 'new' ,  SET "user" 'engarde_flow_reader'  ) """
    ]
    (dropped,) = delete_steps(mapping, ON_ENGARDE)
    assert dropped.statements == ('DROP USER MAPPING FOR "analytics_readonly" SERVER "engarde_flowdb" ',)
    assert dropped.transaction
    assert replace_keys(PG_USER_MAPPING) == {"userName", "serverName"}


def test_database_delete_terminates_sessions_and_forces_the_drop() -> None:
    database = resource(PG_DATABASE, {"name": "langflow", "owner": "langflow_app"})
    assert statements(delete_steps(database, SUPERUSER)) == [
        'GRANT "langflow_app" TO "postgres"',
        'ALTER DATABASE "langflow" ALLOW_CONNECTIONS false',
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'langflow' AND pid <> pg_backend_pid()",
        'DROP DATABASE "langflow" WITH ( FORCE )',
        'REVOKE "langflow_app" FROM "postgres"',
    ]
    assert not delete_steps(database, SUPERUSER)[0].transaction
    renamed = resource(PG_DATABASE, {"name": "langflow", "owner": "other", "connectionLimit": 5})
    assert statements(update_steps(database, renamed, SUPERUSER)) == [
        'GRANT "other" TO "postgres"',
        'ALTER DATABASE "langflow" OWNER TO "other"',
        'REVOKE "other" FROM "postgres"',
        'ALTER DATABASE "langflow" CONNECTION LIMIT = 5',
    ]


# MySQL (v1.9.0) ---------------------------------------------------------------------------------

USER = {"user": "scheduler_user", "host": "%", "plaintextPassword": Secret("abc123")}
MYSQL_GRANT_INPUTS = {
    "user": "scheduler_user",
    "host": "%",
    "database": "easyappointments",
    "privileges": ["ALL PRIVILEGES"],
}


def test_mysql_user_database_grant_as_version_1_9_runs_them() -> None:
    assert statements(create_steps(resource(MYSQL_USER, USER), MYSQL)) == [
        "CREATE USER 'scheduler_user'@'%' IDENTIFIED BY 'abc123' REQUIRE NONE"
    ]
    rotated = resource(MYSQL_USER, {**USER, "plaintextPassword": Secret("xyz789")})
    assert statements(update_steps(resource(MYSQL_USER, USER), rotated, MYSQL)) == [
        "ALTER USER 'scheduler_user'@'%' IDENTIFIED BY 'xyz789'"
    ]
    assert statements(delete_steps(rotated, MYSQL)) == ["DROP USER 'scheduler_user'@'%'"]
    # defaults of v1.9.0: utf8 / utf8_general_ci, not utf8mb4
    assert statements(create_steps(resource(MYSQL_DATABASE, {"name": "easyappointments"}), MYSQL)) == [
        "CREATE DATABASE `easyappointments` CHARACTER SET `utf8` COLLATE `utf8_general_ci`"
    ]
    grant = resource(MYSQL_GRANT, MYSQL_GRANT_INPUTS)
    granted = "GRANT ALL PRIVILEGES ON `easyappointments`.* TO 'scheduler_user'@'%'"
    assert statements(create_steps(grant, MYSQL)) == [granted]
    before_mysql_8 = dataclasses.replace(MYSQL, mysql_roles_supported=False)
    assert statements(create_steps(grant, before_mysql_8)) == [granted + " REQUIRE NONE"]
    assert statements(delete_steps(grant, MYSQL)) == [
        "REVOKE GRANT OPTION ON `easyappointments`.* FROM 'scheduler_user'@'%'",
        "REVOKE ALL PRIVILEGES ON `easyappointments`.* FROM 'scheduler_user'@'%'",
    ]
    assert not has_update(MYSQL_GRANT) and "privileges" in replace_keys(MYSQL_GRANT)


def test_mysql_privileges_are_not_normalized_and_secrets_become_placeholders() -> None:
    grant = resource(MYSQL_GRANT, {**MYSQL_GRANT_INPUTS, "privileges": ["select", "ALL"]})
    assert statements(create_steps(grant, MYSQL)) == [
        f"GRANT {', '.join(set_order(['select', 'ALL']))} ON `easyappointments`.* TO 'scheduler_user'@'%'"
    ]
    variables = dataclasses.replace(MYSQL, secrets=SecretStyle.VARIABLES)
    assert statements(create_steps(resource(MYSQL_USER, USER), variables)) == [
        "CREATE USER 'scheduler_user'@'%' IDENTIFIED BY '${scheduler_scheduler_user_password}' REQUIRE NONE"
    ]


# What the model refuses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "inputs", "named"),
    [
        (PG_ROLE, {"name": "x", "statementTimeout": 5}, "statementTimeout"),
        (PG_ROLE, {"name": "x", "password": Secret("NULL")}, "password"),
        (PG_GRANT, {**TABLES, "objectType": "column", "columns": ["c"]}, "columns"),
        (PG_GRANT, {**TABLES, "objectType": "foreign_server"}, "objectType"),
        (PG_GRANT, {**TABLES, "privileges": ["USAGE"]}, "privileges"),
        (PG_SCHEMA, {"name": "s", "policies": []}, "policies"),
        (MYSQL_USER, {**USER, "authPlugin": "mysql_no_login"}, "authPlugin"),
        (MYSQL_USER, {**USER, "plaintextPassword": Secret("it's")}, "quote"),
        (MYSQL_GRANT, {**MYSQL_GRANT_INPUTS, "user": "o'brien"}, "user"),
        (PG_EXTENSION, {"name": "pgcrypto", "ifNotExists": True}, "ifNotExists"),
    ],
)
def test_inputs_the_model_does_not_know_raise_naming_them(type_: str, inputs: dict[str, Any], named: str) -> None:
    ctx = MYSQL if type_.startswith("mysql") else SUPERUSER
    with pytest.raises(UnsupportedResourceError, match=named):
        create_steps(resource(type_, inputs, "the-resource"), ctx)


def test_an_imported_resource_creates_nothing() -> None:
    """`import_` adopts what exists (the provider's Read): no CREATE that would fail on it."""
    database = dataclasses.replace(resource(MYSQL_DATABASE, {"name": "easyappointments"}), import_id="easyappointments")
    assert create_steps(database, MYSQL) == []
    assert statements(delete_steps(database, MYSQL)) == ["DROP DATABASE `easyappointments`"]


def test_the_sql_script_runs_as_given_in_one_transaction_and_delete_runs_nothing() -> None:
    script = resource(DYNAMIC_RESOURCE, {"sql": "CREATE TABLE t (i int);", "database": "engarde"})
    (step,) = create_steps(script, SUPERUSER)
    assert (step.statements, step.database, step.transaction) == (("CREATE TABLE t (i int);",), "engarde", True)
    assert delete_steps(script, SUPERUSER) == []


# The context a capture gives ----------------------------------------------------------------------


def test_server_context_knows_memberships_from_both_shapes_and_the_admin_kind() -> None:
    dev = server_context(plan_for("dev"), "main")
    assert dev.admin_is_superuser and dev.admin_user == "postgres" and dev.provider_database == "postgres"
    assert "pg_monitor" in dev.memberships["engarde_monitor"]  # Role `roles`
    assert "audit_append" in dev.memberships["madansara_user"]  # GrantRole (or `roles`, once moved there)
    assert dev.schema_owners[("engarde", "madansara")] == "madansara_user"
    prod = server_context(plan_for("prod"), "main")
    assert not prod.admin_is_superuser and prod.provider_database == "railway"


def test_the_capture_records_an_import(tmp_path: Path) -> None:
    program = tmp_path / "program.py"
    program.write_text(
        "import pulumi, pulumi_mysql as mysql\n"
        "mysql.Database('db', name='easyappointments', opts=pulumi.ResourceOptions(import_='easyappointments'))\n"
    )
    capture = run_program({}, "dev", program=program)
    (database,) = capture.by_type(MYSQL_DATABASE)
    assert database.import_id == "easyappointments"
    assert create_steps(database, MYSQL) == []
