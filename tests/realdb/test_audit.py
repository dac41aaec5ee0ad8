"""The drift audit on real servers: clean after apply, and each change by hand reported."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks.audit import add_tables, counted_queries
from review.__main__ import main as review_main
from review.audit.checks import Finding, audit_servers
from tests.realdb.conftest import Deployment, external_config, mysql_admin, require_packages, superuser
from tests.realdb.servers import MARIADB_PACKAGE
from topology.sql import quote_ident


def admin_dsns(deployment: Deployment) -> dict[str, str]:
    """An admin DSN per running server (the scheduler only when MariaDB runs)."""
    servers = deployment.servers
    dsns = {"main": servers.main.dsn("engarde"), "flowdb": servers.flowdb.dsn("langflow")}
    if servers["scheduler"] is not None:
        dsns["scheduler"] = servers["scheduler"].dsn()
    return dsns


def audit(deployment: Deployment) -> list[Finding]:
    return audit_servers(deployment.topology, admin_dsns(deployment))


def test_clean_after_apply(deployed: Deployment) -> None:
    assert audit(deployed) == []


CUSTOM_SETTING_VALUE = "not-for-the-report"

# (what a DBA does by hand, how to undo it, the findings it must produce: exactly these)
DRIFTS: dict[str, tuple[str, str, tuple[Finding, ...]]] = {
    "extra grant": (
        "GRANT SELECT ON madansara.t_before TO sankore_user",
        "REVOKE SELECT ON madansara.t_before FROM sankore_user",
        (Finding("main", "table madansara.t_before", "sankore_user", "-", "SELECT"),),
    ),
    "revoke": (
        "REVOKE SELECT ON madansara.t_after FROM madansara_read",
        "GRANT SELECT ON madansara.t_after TO madansara_read",
        (Finding("main", "table madansara.t_after", "madansara_read", "SELECT", "-"),),
    ),
    "superuser": (
        "ALTER ROLE analytics_readonly SUPERUSER",
        "ALTER ROLE analytics_readonly NOSUPERUSER",
        (Finding("main", "role attribute SUPERUSER", "analytics_readonly", "false", "true"),
         # A superuser passes every privilege check: it reaches the schemas outside its cells too.
         Finding("main", "effective USAGE on schema audit", "analytics_readonly", "-", "USAGE"),
         Finding("main", "effective USAGE on schema public", "analytics_readonly", "-", "USAGE")),
    ),
    "dropped default privilege": (
        "ALTER DEFAULT PRIVILEGES FOR ROLE onside_user IN SCHEMA onside REVOKE SELECT ON TABLES FROM onside_read",
        "ALTER DEFAULT PRIVILEGES FOR ROLE onside_user IN SCHEMA onside GRANT SELECT ON TABLES TO onside_read",
        (Finding("main", "default privileges for role onside_user in schema onside on tables", "onside_read",
                 "SELECT", "-"),),
    ),
    "public create": (
        "GRANT CREATE ON SCHEMA public TO PUBLIC",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        (Finding("main", "schema public", "PUBLIC", "-", "CREATE"),),
    ),
    "public usage on a service schema": (
        "GRANT USAGE ON SCHEMA sankore TO PUBLIC",
        "REVOKE USAGE ON SCHEMA sankore FROM PUBLIC",
        (Finding("main", "schema sankore", "PUBLIC", "-", "USAGE"),
         *(Finding("main", "effective USAGE on schema sankore", role, "-", "USAGE")
           for role in ("capilytics_user", "engarde_app", "engarde_monitor", "langflow_reader", "madansara_user",
                        "onside_user"))),
    ),
    "unknown login role": (
        "CREATE ROLE intruder LOGIN",
        "DROP ROLE intruder",
        (Finding("main", "role", "intruder", "no such login role", "LOGIN"),),
    ),
    "unknown role with attributes": (
        "CREATE ROLE intruder LOGIN CREATEDB CONNECTION LIMIT 2 VALID UNTIL '2030-01-01 00:00:00+00'",
        "DROP ROLE intruder",
        (Finding("main", "role", "intruder", "no such login role",
                 "LOGIN CREATEDB CONNECTION LIMIT 2 VALID UNTIL 2030-01-01 00:00:00 UTC"),),
    ),
    "unknown NOLOGIN role": (
        "CREATE ROLE stray_group NOLOGIN",
        "DROP ROLE stray_group",
        (Finding("main", "role", "stray_group", "no such role", "NOLOGIN"),),
    ),
    "connection limit lifted": (
        "ALTER ROLE onside_user CONNECTION LIMIT -1",
        "ALTER ROLE onside_user CONNECTION LIMIT 15",
        (Finding("main", "role attribute CONNECTION LIMIT", "onside_user", "15", "-1"),),
    ),
    "connection limit on a group role": (
        "ALTER ROLE madansara_read CONNECTION LIMIT 5",
        "ALTER ROLE madansara_read CONNECTION LIMIT -1",
        (Finding("main", "role attribute CONNECTION LIMIT", "madansara_read", "-1", "5"),),
    ),
    "createdb": (
        "ALTER ROLE madansara_user CREATEDB",
        "ALTER ROLE madansara_user NOCREATEDB",
        (Finding("main", "role attribute CREATEDB", "madansara_user", "false", "true"),),
    ),
    "createrole": (
        "ALTER ROLE sankore_user CREATEROLE",
        "ALTER ROLE sankore_user NOCREATEROLE",
        (Finding("main", "role attribute CREATEROLE", "sankore_user", "false", "true"),),
    ),
    "replication": (
        "ALTER ROLE onside_user REPLICATION",
        "ALTER ROLE onside_user NOREPLICATION",
        (Finding("main", "role attribute REPLICATION", "onside_user", "false", "true"),),
    ),
    "bypassrls": (
        "ALTER ROLE capilytics_user BYPASSRLS",
        "ALTER ROLE capilytics_user NOBYPASSRLS",
        (Finding("main", "role attribute BYPASSRLS", "capilytics_user", "false", "true"),),
    ),
    "nologin": (
        "ALTER ROLE audit_user NOLOGIN",
        "ALTER ROLE audit_user LOGIN",
        (Finding("main", "role attribute LOGIN", "audit_user", "true", "false"),),
    ),
    "noinherit": (
        # The owner of the audit schema: a NOLOGIN role with no membership, whose USAGE nothing checks.
        "ALTER ROLE audit_owner NOINHERIT",
        "ALTER ROLE audit_owner INHERIT",
        (Finding("main", "role attribute INHERIT", "audit_owner", "true", "false"),),
    ),
    "valid until": (
        "ALTER ROLE analytics_readonly VALID UNTIL '2030-01-01 00:00:00+00'",
        "ALTER ROLE analytics_readonly VALID UNTIL 'infinity'",
        (Finding("main", "role attribute VALID UNTIL", "analytics_readonly", "infinity", "2030-01-01 00:00:00 UTC"),),
    ),
    "search_path changed": (
        "ALTER ROLE madansara_user SET search_path = pg_catalog",
        "ALTER ROLE madansara_user SET search_path TO madansara, public",
        (Finding("main", "role setting search_path", "madansara_user", "madansara, public", "pg_catalog"),),
    ),
    "search_path reset": (
        "ALTER ROLE madansara_user RESET search_path",
        "ALTER ROLE madansara_user SET search_path TO madansara, public",
        (Finding("main", "role setting search_path", "madansara_user", "madansara, public", "-"),),
    ),
    "search_path in the database only": (
        "ALTER ROLE analytics_readonly IN DATABASE engarde SET search_path = sankore",
        "ALTER ROLE analytics_readonly IN DATABASE engarde RESET search_path",
        (Finding("main", "role setting search_path in database engarde", "analytics_readonly", "-", "sankore"),),
    ),
    "statement_timeout": (
        "ALTER ROLE onside_user SET statement_timeout = '5s'",
        "ALTER ROLE onside_user RESET statement_timeout",
        (Finding("main", "role setting statement_timeout", "onside_user", "-", "5s"),),
    ),
    "custom setting": (
        f"ALTER ROLE onside_user SET app.api_token = '{CUSTOM_SETTING_VALUE}'",
        "ALTER ROLE onside_user RESET app.api_token",
        # The exact rows: its value appears nowhere in the report.
        (Finding("main", "role setting app.api_token", "onside_user", "-", "(set; value not shown)"),),
    ),
    "lost membership": (
        "REVOKE audit_append FROM onside_user",
        "GRANT audit_append TO onside_user",
        # audit_append held its only USAGE on the audit schema.
        (Finding("main", "effective USAGE on schema audit", "onside_user", "USAGE", "-"),
         Finding("main", "membership in audit_append", "onside_user", "MEMBER", "-")),
    ),
    "backup role loses pg_read_all_data": (
        "REVOKE pg_read_all_data FROM engarde_backup",
        "GRANT pg_read_all_data TO engarde_backup",
        # pg_read_all_data held its USAGE on every schema.
        (*(Finding("main", f"effective USAGE on schema {schema}", "engarde_backup", "USAGE", "-")
           for schema in ("audit", "capilytics", "madansara", "onside", "public", "sankore")),
         Finding("main", "membership in pg_read_all_data", "engarde_backup", "MEMBER", "-")),
    ),
    "backup role gets append access": (
        "GRANT audit_append TO engarde_backup",
        "REVOKE audit_append FROM engarde_backup",
        (Finding("main", "membership in audit_append", "engarde_backup", "-", "MEMBER"),),
    ),
    "unknown membership in a built-in role": (
        "GRANT pg_signal_backend TO onside_user",
        "REVOKE pg_signal_backend FROM onside_user",
        (Finding("main", "membership in pg_signal_backend", "onside_user", "-", "MEMBER"),),
    ),
    "table owned by another role": (
        "ALTER TABLE onside.t_after OWNER TO sankore_user",
        "ALTER TABLE onside.t_after OWNER TO onside_user",
        # The table's serial sequence changes owner with it.
        (Finding("main", "sequence onside.t_after_id_seq", "sankore_user", "owner onside_user", "owner sankore_user"),
         Finding("main", "table onside.t_after", "sankore_user", "owner onside_user", "owner sankore_user")),
    ),
    "schema owner changed": (
        "ALTER SCHEMA capilytics OWNER TO sankore_user",
        "ALTER SCHEMA capilytics OWNER TO capilytics_user",
        # Its owner's USAGE goes with the schema.
        (Finding("main", "effective USAGE on schema capilytics", "capilytics_user", "USAGE", "-"),
         Finding("main", "effective USAGE on schema capilytics", "sankore_user", "-", "USAGE"),
         Finding("main", "schema capilytics", "sankore_user", "owner capilytics_user", "owner sankore_user")),
    ),
    "unknown schema": (
        "CREATE SCHEMA scratch",
        "DROP SCHEMA scratch",
        (Finding("main", "schema scratch", "postgres", "no such schema", "exists"),),
    ),
}  # fmt: skip


AS_THE_ADMIN = {
    "lost membership",
    "backup role loses pg_read_all_data",
    "unknown login role",
    "unknown role with attributes",
    "unknown NOLOGIN role",
}
"""Done as the stack's admin: on PostgreSQL 16+ a REVOKE only removes its own grantor's grant, and a
role a managed admin creates is granted back to it (ADMIN OPTION), which must not hide it."""


@pytest.fixture
def clean_afterwards(deployed: Deployment) -> Iterator[None]:
    yield
    assert audit(deployed) == [], "a drift test left the servers changed"


def cli_findings(deployment: Deployment) -> tuple[int, list[Finding], list[str]]:
    """`review audit` of main through the CLI: exit status, the finding rows, the lines after them."""
    status, out, _ = run_cli(deployment, "--dsn", f"main={deployment.servers.main.dsn('engarde')}")
    lines = out.splitlines()
    if status == 0:
        return status, [], lines
    assert lines[0].split() == ["server", "object", "role", "expected", "found"]
    # Columns are two spaces or more apart; no cell holds two spaces in a row.
    rows = [re.split(r"\s{2,}", line) for line in lines[1:-2]]
    return status, [Finding(*row) for row in rows], lines[-2:]


@pytest.mark.parametrize("drift", sorted(DRIFTS))
def test_drift_by_hand_is_reported(deployed: Deployment, drift: str, clean_afterwards: None) -> None:
    change, undo, expected = DRIFTS[drift]
    with superuser(deployed.servers, "main", "engarde") as connection:
        if drift in AS_THE_ADMIN:
            connection.execute(f"SET ROLE {quote_ident(deployed.servers.main.admin_user)}")
        connection.execute(change)
        try:
            status, findings, tail = cli_findings(deployed)
        finally:
            connection.execute(undo)
    assert (status, findings) == (1, sorted(expected)), "\n".join(f.line() for f in findings)
    count = f"{len(expected)} finding{'s' if len(expected) > 1 else ''}"
    assert tail == [f"{count} on main", "skipped (no --dsn): flowdb, scheduler"]


def test_an_unknown_superuser_is_named_with_its_superuser_beside_a_superuser_admin(
    deployed: Deployment, clean_afterwards: None
) -> None:
    with superuser(deployed.servers, "main", "engarde") as connection:
        connection.execute("CREATE ROLE intruder LOGIN SUPERUSER")
        try:
            status, findings, _ = cli_findings(deployed)
        finally:
            connection.execute("DROP ROLE intruder")
    if deployed.servers.combination.kind == "superuser":
        assert (status, findings) == (1, [Finding("main", "role", "intruder", "no such login role", "LOGIN SUPERUSER")])
    else:  # beside a managed admin, a superuser is the platform's (no such admin creates one)
        assert (status, findings) == (0, [])


@pytest.mark.postgres_independent
def test_extra_mysql_grant_is_reported(deployed: Deployment, clean_afterwards: None) -> None:
    connection = mysql_admin(deployed.servers["scheduler"])
    try:
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE IF NOT EXISTS billing")
            cursor.execute("GRANT SELECT ON billing.* TO 'scheduler_user'@'%'")
            try:
                findings = audit(deployed)
            finally:
                cursor.execute("REVOKE SELECT ON billing.* FROM 'scheduler_user'@'%'")
    finally:
        connection.close()
    assert Finding(
        "scheduler", "grant", "scheduler_user", "-", "GRANT SELECT ON `billing`.* TO `scheduler_user`@`%`"
    ) in (findings)


def test_mysql_backup_user_with_more_or_less_than_a_dump_needs_is_reported(
    deployed: Deployment, clean_afterwards: None
) -> None:
    connection = mysql_admin(deployed.servers["scheduler"])
    try:
        with connection.cursor() as cursor:
            cursor.execute("GRANT INSERT ON easyappointments.* TO 'scheduler_backup'@'%'")
            cursor.execute("REVOKE TRIGGER ON easyappointments.* FROM 'scheduler_backup'@'%'")
            try:
                findings = audit(deployed)
            finally:
                cursor.execute("REVOKE INSERT ON easyappointments.* FROM 'scheduler_backup'@'%'")
                cursor.execute("GRANT TRIGGER ON easyappointments.* TO 'scheduler_backup'@'%'")
    finally:
        connection.close()
    assert findings == [
        Finding("scheduler", "database easyappointments", "scheduler_backup", "TRIGGER", "-"),
        Finding("scheduler", "database easyappointments", "scheduler_backup", "-", "INSERT"),
    ]


def _set_arguments(config: dict[str, Any], prefix: str = "") -> list[str]:
    arguments = []
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            arguments += _set_arguments(value, f"{path}.")
        else:
            arguments += ["--set", f"{path}={json.dumps(value) if isinstance(value, bool) else value}"]
    return arguments


def run_cli(deployment: Deployment, *extra: str) -> tuple[int, str, str]:
    config = external_config(deployment.servers)
    argv = ["audit", "--stack", "dev", *_set_arguments(config), *extra]
    out, err = io.StringIO(), io.StringIO()
    status = review_main(argv, out, err)
    return status, out.getvalue(), err.getvalue()


def dsn_arguments(deployment: Deployment) -> list[str]:
    return [argument for name, dsn in admin_dsns(deployment).items() for argument in ("--dsn", f"{name}={dsn}")]


def test_cli_exit_status_and_one_row_per_finding_under_a_header(deployed: Deployment, clean_afterwards: None) -> None:
    require_packages(MARIADB_PACKAGE)  # the full report names all three servers
    status, out, _ = run_cli(deployed, *dsn_arguments(deployed))
    assert (status, out) == (0, "no drift on main, flowdb, scheduler\n")
    with superuser(deployed.servers, "main", "engarde") as connection:
        connection.execute("GRANT INSERT ON sankore.t_after TO analytics_readonly")
        try:
            status, out, _ = run_cli(deployed, *dsn_arguments(deployed))
            json_status, json_out, _ = run_cli(deployed, *dsn_arguments(deployed), "--format", "json")
        finally:
            connection.execute("REVOKE INSERT ON sankore.t_after FROM analytics_readonly")
    assert status == 1
    assert out.splitlines() == [
        "server  object                 role                expected  found",
        "main    table sankore.t_after  analytics_readonly  -         INSERT",
        "1 finding on main, flowdb, scheduler",
    ]
    assert json_status == 1
    report = json.loads(json_out)
    assert (report["audited"], report["skipped"]) == (["main", "flowdb", "scheduler"], [])
    assert report["findings"] == [
        {"server": "main", "object": "table sankore.t_after", "role": "analytics_readonly", "expected": "-",
         "found": "INSERT"}
    ]  # fmt: skip


def test_cli_audits_the_servers_given_and_names_the_skipped_ones(deployed: Deployment) -> None:
    status, out, _ = run_cli(deployed, "--dsn", f"main={deployed.servers.main.dsn('engarde')}")
    assert (status, out) == (0, "no drift on main\nskipped (no --dsn): flowdb, scheduler\n")
    status, out, _ = run_cli(deployed, "--dsn", f"flowdb={deployed.servers.flowdb.dsn('langflow')}", "--format", "json")
    assert status == 0
    assert (json.loads(out)["audited"], json.loads(out)["skipped"]) == (["flowdb"], ["main", "scheduler"])


def test_cli_refuses_a_dsn_naming_another_database(deployed: Deployment) -> None:
    status, out, err = run_cli(deployed, "--dsn", f"main={deployed.servers.main.dsn('postgres')}")
    assert (status, out) == (2, "")
    assert err == (
        "--dsn main: the DSN names database 'postgres', but the stack's database on main is 'engarde': "
        "name 'engarde' or no database\n"
    )
    without_database = deployed.servers.main.dsn("engarde").rsplit("/", 1)[0]
    assert run_cli(deployed, "--dsn", f"main={without_database}")[:2] == (
        0,
        "no drift on main\nskipped (no --dsn): flowdb, scheduler\n",
    )


def test_cli_usage_and_connection_errors_exit_2_with_one_line(deployed: Deployment) -> None:
    status, _, err = run_cli(deployed)
    assert status == 2 and err == "--dsn SERVER=URL is required for at least one of main, flowdb, scheduler\n"
    wrong = [a.replace(deployed.servers.main.admin_password, "wrong-password") for a in dsn_arguments(deployed)]
    status, _, err = run_cli(deployed, *wrong)
    assert status == 2 and err.startswith("server main: ") and err.count("\n") == 1
    assert deployed.servers.main.admin_password not in err


def test_catalog_queries_per_server_do_not_grow_with_the_tables(deployed: Deployment, clean_afterwards: None) -> None:
    dsns = {"main": deployed.servers.main.dsn("engarde")}
    with counted_queries() as few_tables:
        assert audit_servers(deployed.topology, dsns) == []
    # As a migration would: the schema's owner creates them (the bootstrap superuser can SET ROLE to it).
    add_tables(
        deployed.servers.superusers.get("main", deployed.servers.main).dsn("engarde"), "onside", "onside_user", 0, 300
    )
    try:
        with counted_queries() as many_tables:
            findings = audit_servers(deployed.topology, dsns)
    finally:
        with superuser(deployed.servers, "main", "engarde") as connection:
            connection.execute(
                "DO $$ BEGIN FOR i IN 0..299 LOOP EXECUTE 'DROP TABLE onside.bench_' || i; END LOOP; END $$"
            )
    assert findings == [], "tables a migration adds are covered by the default privileges"
    assert len(many_tables) == len(few_tables)
