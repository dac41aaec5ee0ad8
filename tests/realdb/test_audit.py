"""The drift audit on real servers: clean after apply, and each change by hand reported."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from review.audit import Finding, audit_servers
from tests.realdb.conftest import Deployment, admin, mysql_admin


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
    with admin(deployed.servers.main, "engarde") as connection:
        connection.execute(change)
        try:
            findings = audit(deployed)
        finally:
            connection.execute(undo)
    assert expected in findings, "\n".join(f.line() for f in findings)


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
