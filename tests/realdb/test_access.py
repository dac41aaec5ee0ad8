"""Every cell of the access matrix, positive and negative, on real servers, logged in with the exact
DSN the stack's `services` output hands to each role's user."""

from __future__ import annotations

from typing import Any

import psycopg
import pymysql
import pytest
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from review.views.sql import sql_steps
from tests.expected import DEDICATED_MATRIX
from tests.graph import plan_of
from tests.realdb.access_probes import ALLOWED, TABLES, attempt, probe
from tests.realdb.conftest import POSTGRES, Deployment, admin, apply_mysql, apply_postgres, mysql_admin, snapshot
from topology import load_topology

_topology = load_topology({}, "dev")
LOGIN_ROLES = [(r.server, r.name) for r in _topology.roles if r.login]
CELLS = [
    (server, role, schema.name)
    for server, role in LOGIN_ROLES
    for schema in _topology.layouts[server].schemas
]  # fmt: skip


@pytest.fixture(scope="module")
def sessions(deployed: Deployment) -> Any:
    opened: dict[tuple[str, str], psycopg.Connection[Any]] = {}

    def session(server: str, role: str) -> psycopg.Connection[Any]:
        if (server, role) not in opened:
            opened[(server, role)] = deployed.connect(server, role, autocommit=True)
        return opened[(server, role)]

    yield session
    for connection in opened.values():
        connection.close()


def test_applying_the_create_again_fails_like_the_provider_and_changes_nothing(deployed: Deployment) -> None:
    """`pulumi up` on servers that hold the objects (a lost state, an import not done) fails on the
    first CREATE ROLE / CREATE USER / CREATE DATABASE: so must the SQL the tests apply."""
    before = snapshot(deployed.servers, deployed.topology)
    assert any(p.is_default for p in before["main"]["privileges"]), "the snapshot must cover default privileges"
    for name in POSTGRES:
        steps = sql_steps(plan_of(deployed.capture), name)
        assert steps[0].statements[0].startswith("CREATE ROLE ")
        with pytest.raises(errors.DuplicateObject):
            apply_postgres(deployed.servers[name], steps, deployed.topology.servers[name].database)
    for step in sql_steps(plan_of(deployed.capture), "scheduler"):
        with pytest.raises(pymysql.err.MySQLError) as failure:
            apply_mysql(deployed.servers["scheduler"], [step])
        # ER_CANNOT_USER (CREATE USER), ER_DB_CREATE_EXISTS (CREATE DATABASE); the GRANT alone re-applies
        assert failure.value.args[0] in (1396, 1007), step
        if step.resource.startswith("mysql:Database"):
            break
    assert snapshot(deployed.servers, deployed.topology) == before


@pytest.mark.parametrize(("server", "role", "schema"), CELLS)
def test_matrix_cell(deployed: Deployment, sessions: Any, server: str, role: str, schema: str) -> None:
    profile = DEDICATED_MATRIX.get((server, schema, role))
    connection = sessions(server, role)
    for table in TABLES:
        assert probe(connection, schema, table) == ALLOWED[profile], f"{role} on {schema}.{table} ({profile})"


def test_audit_log_is_append_only_for_services(deployed: Deployment, sessions: Any) -> None:
    connection = sessions("main", "madansara_user")
    log = "audit.cross_schema_access"
    assert attempt(connection, f"INSERT INTO {log} (source_schema, target_schema, query) VALUES ('m', 'p', 'q')")
    for statement in (f"SELECT * FROM {log}", f"UPDATE {log} SET query = 'x' WHERE false", f"DELETE FROM {log}"):
        assert not attempt(connection, statement), statement
    assert attempt(sessions("main", "audit_user"), f"SELECT * FROM {log}")


def test_public_cannot_create_in_public(deployed: Deployment) -> None:
    with admin(deployed.servers.main, "engarde") as connection:
        connection.execute("DROP ROLE IF EXISTS outsider")
        connection.execute("CREATE ROLE outsider LOGIN PASSWORD 'outsider'")
        public_privileges = connection.execute(
            "SELECT a.privilege_type FROM pg_namespace n, aclexplode(n.nspacl) a"
            " WHERE n.nspname = 'public' AND a.grantee = 0"
        ).fetchall()
        assert public_privileges == []
    dsn = make_conninfo(deployed.servers.main.dsn("engarde"), user="outsider", password="outsider")
    try:
        with psycopg.connect(dsn, autocommit=True) as outsider:
            assert not attempt(outsider, "CREATE TABLE public.intruder (i int)")
            assert not attempt(outsider, "SELECT * FROM public.t_before")
    finally:
        with admin(deployed.servers.main, "engarde") as connection:
            connection.execute("DROP ROLE outsider")


def test_no_login_role_has_an_elevated_attribute(deployed: Deployment) -> None:
    for server in ("main", "flowdb"):
        names = [role for s, role in LOGIN_ROLES if s == server]
        with admin(deployed.servers[server], "postgres") as connection:
            rows = connection.execute(
                "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)"
                " AND (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls OR NOT rolcanlogin)",
                (names,),
            ).fetchall()
            assert rows == []
            count = connection.execute("SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)", (names,)).fetchone()
            assert count == (len(names),)


SEARCH_PATHS = {
    ("main", "engarde_app"): "public",
    ("main", "madansara_user"): "madansara, public",
    ("main", "capilytics_user"): "capilytics, public",
    ("main", "langflow_reader"): "public",
    ("flowdb", "langflow_app"): "public",
}


@pytest.mark.parametrize(("server", "role"), sorted(SEARCH_PATHS))
def test_search_path_through_the_dsn_and_through_the_role_setting_alone(
    deployed: Deployment, server: str, role: str
) -> None:
    expected = SEARCH_PATHS[(server, role)].split(", ")
    with deployed.connect(server, role) as connection:
        assert _search_path(connection) == expected
    without_options = {k: v for k, v in conninfo_to_dict(deployed.dsns[(server, role)]).items() if k != "options"}
    with psycopg.connect(make_conninfo(**without_options)) as connection:  # type: ignore[arg-type]
        assert _search_path(connection) == expected


def _search_path(connection: psycopg.Connection[Any]) -> list[str]:
    row = connection.execute("SHOW search_path").fetchone()
    assert row is not None
    return [part.strip().strip('"') for part in str(row[0]).split(",")]


def test_passwords_that_need_url_encoding_log_in(deployed: Deployment) -> None:
    hostile = set("@:/?#%&=+[]{}")
    encoded = [dsn for dsn in deployed.dsns.values() if set(str(conninfo_to_dict(dsn)["password"])) & hostile]
    assert len(encoded) >= len(deployed.dsns) // 2, "the generated passwords should exercise URL encoding"
    for dsn in encoded:
        with psycopg.connect(dsn) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)


def test_cross_server_readers_read_and_write_nothing(deployed: Deployment, sessions: Any) -> None:
    langflow_reader = sessions("main", "langflow_reader")
    assert attempt(langflow_reader, "SELECT * FROM public.t_after")
    assert not attempt(langflow_reader, "INSERT INTO public.t_after (v) VALUES ('x')")
    flow_reader = sessions("flowdb", "engarde_flow_reader")
    assert attempt(flow_reader, "SELECT * FROM public.t_before")
    for statement in ("INSERT INTO public.t_before (v) VALUES ('x')", "CREATE TABLE public.x (i int)"):
        assert not attempt(flow_reader, statement)


@pytest.mark.postgres_independent
def test_scheduler_user_has_its_database_and_nothing_else(deployed: Deployment) -> None:
    env = deployed.capture.outputs["services"].value["egm-scheduler"]["env"]
    root = mysql_admin(deployed.servers["scheduler"])
    with root.cursor() as cursor:
        cursor.execute("CREATE DATABASE IF NOT EXISTS otherdb")
    root.close()
    # As EasyAppointments' mysqlnd reads DB_HOST: `host:port`, or the host alone for 3306.
    host, _, port = env["DB_HOST"].partition(":")
    assert int(port or 3306) == deployed.servers["scheduler"].port
    connection = pymysql.connect(host=host, port=int(port or 3306), user=env["DB_USERNAME"],
                                 password=env["DB_PASSWORD"], database=env["DB_NAME"], autocommit=True)  # fmt: skip
    try:
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE appointments (id int PRIMARY KEY, note text)")
            cursor.execute("INSERT INTO appointments VALUES (1, 'x')")
            cursor.execute("SELECT note FROM appointments")
            assert cursor.fetchall() == (("x",),)
            cursor.execute("DROP TABLE appointments")
            cursor.execute("SHOW DATABASES")
            assert {row[0] for row in cursor.fetchall()} == {"easyappointments", "information_schema"}
            with pytest.raises(pymysql.err.OperationalError):
                cursor.execute("USE otherdb")
            with pytest.raises(pymysql.err.OperationalError):
                cursor.execute("CREATE DATABASE sneaky")
    finally:
        connection.close()
