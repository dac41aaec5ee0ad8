"""The drift audit's comparison on hand-built layouts and catalogs (no server): what each difference reports."""

from __future__ import annotations

from dataclasses import replace

import pytest

from review.audit.catalog import CatalogObject, PostgresCatalog, RoleRow, RoleSetting
from review.audit.checks import Finding, audit_postgres
from topology.model import (
    Access,
    AccessGroup,
    Engine,
    Mode,
    ObjectType,
    Privilege,
    Profile,
    Role,
    Schema,
    Server,
    ServerLayout,
)

ADMIN = "admin"
SERVER = Server(
    name="main", engine=Engine.POSTGRESQL, mode=Mode.EXTERNAL, database="engarde", adopt_database=True,
    admin_user=ADMIN, provider_host="db", provider_port=5432, service_host="db", service_port=5432, superuser=False,
)  # fmt: skip
LAYOUT = ServerLayout(
    server=SERVER,
    roles=(
        Role("main", "app_user", login=True, connection_limit=10, search_path=("app", "public")),
        Role("main", "reader", login=True, connection_limit=5, member_of=("pg_monitor",)),
        Role("main", "app_read", login=False),
    ),
    schemas=(
        Schema("main", "engarde", "app", "app_user", created=True),
        Schema("main", "engarde", "public", "app_user", created=False),
    ),
    groups=(AccessGroup("main", "engarde", "app", Profile.READ, "app_read", "app_user", ("reader",)),),
    access=(
        Access("main", "engarde", "app", "app_user", Profile.OWNER),
        Access("main", "engarde", "public", "app_user", Profile.OWNER),
        Access("main", "engarde", "app", "reader", Profile.READ),
    ),
    users=(),
)
TABLE, SEQUENCE, SCHEMA = ObjectType.TABLE, ObjectType.SEQUENCE, ObjectType.SCHEMA
CLEAN_USAGE = {("app_user", "app"), ("app_user", "public"), ("reader", "app")}


APP_PATH = RoleSetting("", "search_path", "app, public")


def role(name: str, login: bool = False, superuser: bool = False, limit: int = -1, *settings: RoleSetting) -> RoleRow:
    return RoleRow(name, login, superuser, False, False, False, False, True, limit, settings=settings)


def privilege(schema: str, object_type: ObjectType, grantee: str, name: str, **where: str) -> Privilege:
    return Privilege("main", "engarde", schema, object_type, grantee, name, **where)


def clean_catalog() -> PostgresCatalog:
    """What a clean apply leaves on a managed server (PostgreSQL 16+), plus one table a migration made."""
    return PostgresCatalog(
        server="main",
        database="engarde",
        roles={
            r.name: r
            for r in (
                role("postgres", login=True, superuser=True),
                role(ADMIN, login=True),
                role("cloud_admins"),
                role("pg_monitor"),
                role("app_user", True, False, 10, APP_PATH),
                role("reader", login=True, limit=5),
                role("app_read"),
            )
        },
        memberships={
            ("app_read", "reader"),
            ("pg_monitor", "reader"),
            ("cloud_admins", ADMIN),
            # A CREATEROLE admin is granted what it creates (ADMIN OPTION, no INHERIT) on PostgreSQL 16+.
            ("app_user", ADMIN),
            ("reader", ADMIN),
            ("app_read", ADMIN),
        },
        inheriting={("app_read", "reader"), ("pg_monitor", "reader"), ("cloud_admins", ADMIN)},
        schemas={"app": "app_user", "public": "pg_database_owner"},
        objects={
            CatalogObject("app", "t", "table", "app_user"),
            CatalogObject("app", "t_id_seq", "sequence", "app_user"),
            CatalogObject("public", "p", "table", "app_user"),
        },
        privileges={
            privilege("public", SCHEMA, "app_user", "CREATE"),
            privilege("public", SCHEMA, "app_user", "USAGE"),
            privilege("app", SCHEMA, "app_read", "USAGE"),
            privilege("app", TABLE, "app_read", "SELECT", relation="t"),
            privilege("app", SEQUENCE, "app_read", "SELECT", relation="t_id_seq"),
            privilege("app", TABLE, "app_read", "SELECT", default_for="app_user"),
            privilege("app", SEQUENCE, "app_read", "SELECT", default_for="app_user"),
        },
    )


def audit(
    catalog: PostgresCatalog, usage: set[tuple[str, str]] = CLEAN_USAGE, layout: ServerLayout = LAYOUT
) -> list[Finding]:
    return audit_postgres(layout, catalog, usage)


def test_a_clean_catalog_has_no_finding() -> None:
    assert audit(clean_catalog()) == []


def test_a_grant_on_every_table_is_expected_on_each_one_that_exists() -> None:
    catalog = clean_catalog()
    catalog.objects |= {CatalogObject("app", "v", "view", "app_user")}
    assert audit(catalog) == [Finding("main", "view app.v", "app_read", "SELECT", "-")]


def test_privileges_by_hand_and_revoked_ones_are_reported() -> None:
    catalog = clean_catalog()
    catalog.privileges -= {privilege("app", SEQUENCE, "app_read", "SELECT", relation="t_id_seq")}
    catalog.privileges |= {
        privilege("app", TABLE, "reader", "DELETE", relation="t"),
        privilege("public", SCHEMA, "PUBLIC", "CREATE"),
        privilege("app", TABLE, "app_read", "INSERT", default_for="app_user"),
        privilege("", TABLE, "reader", "SELECT", default_for="app_user"),
    }
    assert audit(catalog) == [
        Finding("main", "default privileges for role app_user in every schema on tables", "reader", "-", "SELECT"),
        Finding("main", "default privileges for role app_user in schema app on tables", "app_read", "-", "INSERT"),
        Finding("main", "schema public", "PUBLIC", "-", "CREATE"),
        Finding("main", "sequence app.t_id_seq", "app_read", "SELECT", "-"),
        Finding("main", "table app.t", "reader", "-", "DELETE"),
    ]


def test_privileges_outside_the_layout_are_left_to_their_owners() -> None:
    catalog = clean_catalog()
    catalog.privileges |= {
        Privilege("main", "engarde", "elsewhere", TABLE, "reader", "SELECT", relation="x"),
        Privilege("main", "engarde", "elsewhere", TABLE, "reader", "SELECT", default_for="someone"),
    }
    assert audit(catalog) == []


def test_every_object_in_a_layout_schema_belongs_to_its_owner() -> None:
    catalog = clean_catalog()
    catalog.objects |= {
        CatalogObject("public", "f(integer)", "function", "reader"),
        CatalogObject("app", "mood", "type", "postgres"),
        CatalogObject("elsewhere", "x", "table", "postgres"),
    }
    assert audit(catalog) == [
        Finding("main", "function public.f(integer)", "reader", "owner app_user", "owner reader"),
        Finding("main", "type app.mood", "postgres", "owner app_user", "owner postgres"),
    ]


def test_schemas_missing_reowned_or_unknown_are_reported() -> None:
    catalog = clean_catalog()
    catalog.schemas = {"app": "reader", "public": "postgres", "scratch": "postgres"}
    assert audit(catalog) == [
        Finding("main", "schema app", "reader", "owner app_user", "owner reader"),
        Finding("main", "schema scratch", "postgres", "no such schema", "exists"),
    ]
    del catalog.schemas["app"]
    assert Finding("main", "schema app", "-", "exists", "missing") in audit(catalog)


def test_public_is_known_where_the_layout_leaves_it_alone() -> None:
    layout = replace(LAYOUT, schemas=LAYOUT.schemas[:1], access=(LAYOUT.access[0], LAYOUT.access[2]))
    catalog = clean_catalog()
    catalog.privileges = {p for p in catalog.privileges if p.schema != "public"}
    catalog.objects = {o for o in catalog.objects if o.schema != "public"}
    assert audit(catalog, CLEAN_USAGE - {("app_user", "public")}, layout) == []


@pytest.mark.parametrize(
    ("name", "login", "expected"),
    [(True, "no such login role", "LOGIN"), (False, "no such role", "NOLOGIN")],
    ids=["login", "nologin"],
)
def test_unknown_roles_are_reported(name: bool, login: str, expected: str) -> None:
    catalog = clean_catalog()
    catalog.roles["stray"] = role("stray", login=name)
    assert audit(catalog) == [Finding("main", "role", "stray", login, expected)]


def test_an_unknown_role_is_named_with_every_attribute_off_its_default() -> None:
    layout = replace(LAYOUT, server=replace(SERVER, superuser=True))  # else a superuser is the platform's
    catalog = clean_catalog()
    del catalog.roles["postgres"], catalog.roles["cloud_admins"]
    catalog.roles["intruder"] = RoleRow(
        "intruder", True, True, True, True, True, True, False, 3, "2030-01-01 00:00:00 UTC"
    )
    assert audit(catalog, layout=layout) == [
        Finding("main", "role", "intruder", "no such login role",
                "LOGIN SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS NOINHERIT CONNECTION LIMIT 3"
                " VALID UNTIL 2030-01-01 00:00:00 UTC"),
    ]  # fmt: skip


def test_a_role_the_admin_created_is_no_platform_role() -> None:
    catalog = clean_catalog()
    catalog.roles["stray"] = role("stray")
    catalog.memberships |= {("stray", ADMIN)}  # ADMIN OPTION only: the admin does not inherit it
    assert audit(catalog) == [Finding("main", "role", "stray", "no such role", "NOLOGIN")]


def test_the_platform_roles_beside_a_managed_admin_are_left_out() -> None:
    catalog = clean_catalog()
    catalog.roles |= {"rds_replication": role("rds_replication"), "rdsadmin": role("rdsadmin", True, True)}
    catalog.memberships |= {("rds_replication", "cloud_admins")}
    catalog.inheriting |= {("rds_replication", "cloud_admins")}
    assert audit(catalog) == []


def test_a_role_reached_through_a_layout_role_is_no_platform_role() -> None:
    catalog = clean_catalog()
    catalog.roles["stray"] = role("stray")
    catalog.memberships |= {("stray", "app_user")}
    catalog.inheriting |= {("stray", "app_user"), ("app_user", ADMIN)}
    assert audit(catalog) == [
        Finding("main", "membership in stray", "app_user", "-", "MEMBER"),
        Finding("main", "role", "stray", "no such role", "NOLOGIN"),
    ]


def test_beside_a_superuser_admin_every_other_role_is_the_layouts_or_drift() -> None:
    layout = replace(LAYOUT, server=replace(SERVER, superuser=True))
    assert audit(clean_catalog(), layout=layout) == [
        Finding("main", "role", "cloud_admins", "no such role", "NOLOGIN"),
        Finding("main", "role", "postgres", "no such login role", "LOGIN SUPERUSER"),
    ]


def test_memberships_lost_or_added_are_reported_but_not_the_admins_own() -> None:
    catalog = clean_catalog()
    catalog.memberships -= {("pg_monitor", "reader")}
    catalog.memberships |= {("app_user", "reader"), (ADMIN, "app_read")}
    assert audit(catalog) == [
        Finding("main", "membership in admin", "app_read", "-", "MEMBER"),
        Finding("main", "membership in app_user", "reader", "-", "MEMBER"),
        Finding("main", "membership in pg_monitor", "reader", "MEMBER", "-"),
    ]


def test_roles_missing_or_changed_are_reported_one_finding_per_attribute() -> None:
    catalog = clean_catalog()
    del catalog.roles["app_read"]
    catalog.roles["reader"] = replace(
        catalog.roles["reader"], login=False, superuser=True, createdb=True, createrole=True, bypassrls=True,
        inherit=False, connection_limit=-1, valid_until="2030-01-01 00:00:00 UTC",
    )  # fmt: skip
    assert audit(catalog) == [
        Finding("main", "role", "app_read", "exists", "missing"),
        Finding("main", "role attribute BYPASSRLS", "reader", "false", "true"),
        Finding("main", "role attribute CONNECTION LIMIT", "reader", "5", "-1"),
        Finding("main", "role attribute CREATEDB", "reader", "false", "true"),
        Finding("main", "role attribute CREATEROLE", "reader", "false", "true"),
        Finding("main", "role attribute INHERIT", "reader", "true", "false"),
        Finding("main", "role attribute LOGIN", "reader", "true", "false"),
        Finding("main", "role attribute SUPERUSER", "reader", "false", "true"),
        Finding("main", "role attribute VALID UNTIL", "reader", "infinity", "2030-01-01 00:00:00 UTC"),
    ]


def test_a_group_roles_connection_limit_is_the_providers_default() -> None:
    catalog = clean_catalog()
    catalog.roles["app_read"] = replace(catalog.roles["app_read"], connection_limit=3)
    assert audit(catalog) == [Finding("main", "role attribute CONNECTION LIMIT", "app_read", "-1", "3")]


def test_a_search_path_is_compared_as_the_identifiers_postgresql_reads() -> None:
    catalog = clean_catalog()
    for same in ('"app", "public"', "APP,public", ' app ,  "public" '):
        catalog.roles["app_user"] = role("app_user", True, False, 10, RoleSetting("", "search_path", same))
        assert audit(catalog) == [], same
    for other in ('"App", public', "public, app", "app", '"app, public"', "app public"):
        catalog.roles["app_user"] = role("app_user", True, False, 10, RoleSetting("", "search_path", other))
        assert audit(catalog) == [Finding("main", "role setting search_path", "app_user", "app, public", other)]


def test_role_settings_reset_or_added_are_reported() -> None:
    catalog = clean_catalog()
    catalog.roles["app_user"] = role("app_user", True, False, 10)  # ALTER ROLE app_user RESET search_path
    catalog.roles["reader"] = role(
        "reader", True, False, 5,
        RoleSetting("", "statement_timeout", "5s"),
        RoleSetting("engarde", "search_path", "pg_catalog"),
    )  # fmt: skip
    assert audit(catalog) == [
        Finding("main", "role setting search_path", "app_user", "app, public", "-"),
        Finding("main", "role setting search_path in database engarde", "reader", "-", "pg_catalog"),
        Finding("main", "role setting statement_timeout", "reader", "-", "5s"),
    ]


def test_a_custom_settings_value_is_never_printed() -> None:
    catalog = clean_catalog()
    catalog.roles["reader"] = role("reader", True, False, 5, RoleSetting("", "app.jwt_secret", "s3cr3t-value"))
    findings = audit(catalog)
    assert findings == [Finding("main", "role setting app.jwt_secret", "reader", "-", "(set; value not shown)")]
    assert "s3cr3t" not in repr(findings)


def test_effective_usage_beyond_or_short_of_the_access_cells_is_reported() -> None:
    usage = CLEAN_USAGE - {("reader", "app")} | {("reader", "public"), ("stray", "public")}
    assert audit(clean_catalog(), usage) == [
        Finding("main", "effective USAGE on schema app", "reader", "USAGE", "-"),
        Finding("main", "effective USAGE on schema public", "reader", "-", "USAGE"),
    ]


def test_the_replication_role_must_hold_replication_and_no_other_role_may() -> None:
    replicator = Role("main", "engarde_replicator", login=True, connection_limit=2, replication=True)
    layout = replace(LAYOUT, roles=(*LAYOUT.roles, replicator))
    catalog = clean_catalog()
    catalog.roles["engarde_replicator"] = replace(role("engarde_replicator", login=True, limit=2), replication=True)
    catalog.memberships |= {("engarde_replicator", ADMIN)}
    assert audit(catalog, layout=layout) == []
    catalog.roles["engarde_replicator"] = replace(catalog.roles["engarde_replicator"], replication=False)
    catalog.roles["reader"] = replace(catalog.roles["reader"], replication=True)
    assert audit(catalog, layout=layout) == [
        Finding("main", "role attribute REPLICATION", "engarde_replicator", "true", "false"),
        Finding("main", "role attribute REPLICATION", "reader", "false", "true"),
    ]
