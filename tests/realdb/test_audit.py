"""The drift audit on real servers: clean after apply, and each change by hand reported."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from review.__main__ import main as review_main
from review.audit import Finding, audit_servers
from tests.realdb.conftest import Deployment, external_config, mysql_admin, superuser


def admin_dsns(deployment: Deployment) -> dict[str, str]:
    servers = deployment.servers
    return {"main": servers.main.dsn(), "flowdb": servers.flowdb.dsn(), "scheduler": servers.scheduler.dsn()}


def audit(deployment: Deployment) -> list[Finding]:
    return audit_servers(deployment.topology, admin_dsns(deployment))


def test_clean_after_apply(deployed: Deployment) -> None:
    assert audit(deployed) == []


# (what a DBA does by hand, how to undo it, a finding it must produce)
DRIFTS = {
    "extra grant": (
        "GRANT SELECT ON madansara.t_before TO sankore_user",
        "REVOKE SELECT ON madansara.t_before FROM sankore_user",
        Finding("main", "table madansara.t_before", "sankore_user", "-", "SELECT"),
    ),
    "revoke": (
        "REVOKE SELECT ON madansara.t_after FROM madansara_read",
        "GRANT SELECT ON madansara.t_after TO madansara_read",
        Finding("main", "table madansara.t_after", "madansara_read", "SELECT", "-"),
    ),
    "superuser": (
        "ALTER ROLE analytics_readonly SUPERUSER",
        "ALTER ROLE analytics_readonly NOSUPERUSER",
        Finding("main", "role attribute", "analytics_readonly", "NOSUPERUSER", "SUPERUSER"),
    ),
    "dropped default privilege": (
        "ALTER DEFAULT PRIVILEGES FOR ROLE onside_user IN SCHEMA onside REVOKE SELECT ON TABLES FROM onside_read",
        "ALTER DEFAULT PRIVILEGES FOR ROLE onside_user IN SCHEMA onside GRANT SELECT ON TABLES TO onside_read",
        Finding("main", "default privileges for role onside_user in schema onside on tables", "onside_read",
                "SELECT", "-"),
    ),
    "public create": (
        "GRANT CREATE ON SCHEMA public TO PUBLIC",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        Finding("main", "schema public", "PUBLIC", "-", "CREATE"),
    ),
    "public usage on a service schema": (
        "GRANT USAGE ON SCHEMA sankore TO PUBLIC",
        "REVOKE USAGE ON SCHEMA sankore FROM PUBLIC",
        Finding("main", "effective USAGE on schema sankore", "madansara_user", "-", "USAGE"),
    ),
    "unknown login role": (
        "CREATE ROLE intruder LOGIN",
        "DROP ROLE intruder",
        Finding("main", "role", "intruder", "no such login role", "LOGIN"),
    ),
    "lost membership": (
        "REVOKE audit_append FROM onside_user",
        "GRANT audit_append TO onside_user",
        Finding("main", "membership in audit_append", "onside_user", "MEMBER", "-"),
    ),
}  # fmt: skip


@pytest.fixture
def clean_afterwards(deployed: Deployment) -> Iterator[None]:
    yield
    assert audit(deployed) == [], "a drift test left the servers changed"


@pytest.mark.parametrize("drift", sorted(DRIFTS))
def test_drift_by_hand_is_reported(deployed: Deployment, drift: str, clean_afterwards: None) -> None:
    change, undo, expected = DRIFTS[drift]
    with superuser(deployed.servers, "main", "engarde") as connection:
        connection.execute(change)
        try:
            findings = audit(deployed)
        finally:
            connection.execute(undo)
    assert expected in findings, "\n".join(f.line() for f in findings)


@pytest.mark.postgres_independent
def test_extra_mysql_grant_is_reported(deployed: Deployment, clean_afterwards: None) -> None:
    connection = mysql_admin(deployed.servers.scheduler)
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


def test_cli_exit_status_and_one_line_per_finding(deployed: Deployment, clean_afterwards: None) -> None:
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
    assert out == "main  table sankore.t_after  analytics_readonly  expected: -  found: INSERT\n"
    assert json_status == 1
    assert json.loads(json_out)["findings"] == [
        {"server": "main", "object": "table sankore.t_after", "role": "analytics_readonly", "expected": "-",
         "found": "INSERT"}
    ]  # fmt: skip


def test_cli_usage_and_connection_errors_exit_2_with_one_line(deployed: Deployment) -> None:
    status, _, err = run_cli(deployed, "--dsn", f"main={deployed.servers.main.dsn()}")
    assert status == 2 and err == "--dsn is required for each server of the stack; missing: flowdb, scheduler\n"
    wrong = [a.replace(deployed.servers.main.admin_password, "wrong-password") for a in dsn_arguments(deployed)]
    status, _, err = run_cli(deployed, *wrong)
    assert status == 2 and err.startswith("server main: ") and err.count("\n") == 1
    assert deployed.servers.main.admin_password not in err
