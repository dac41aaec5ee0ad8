"""The plan-time refusal of `adminGrantsPgMonitor`, checked against what each PostgreSQL version does.

A managed-style admin (LOGIN CREATEROLE CREATEDB, not a superuser), with and without pg_monitor WITH
ADMIN OPTION, runs the statement the provider runs for `roles = ["pg_monitor"]`. The program must
refuse the config exactly where the server refuses the statement, and accept it where it succeeds.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

import pytest
from psycopg import errors, sql

from tests.realdb.conftest import POSTGRES, Servers, admin, external_config, superuser
from topology import ConfigError, load_topology

PROBE_ADMIN = "probe_managed_admin"
PROBE_MONITOR = "probe_monitor"


def _grant_as_managed_admin(servers: Servers, admin_option: bool) -> bool:
    """True if a non-superuser admin can make a role it created a member of pg_monitor."""
    probe = replace(servers.superusers["main"], admin_user=PROBE_ADMIN, admin_password=secrets.token_urlsafe(24))
    with superuser(servers, "main", "postgres") as root:
        root.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB PASSWORD {}").format(
            sql.Identifier(PROBE_ADMIN), sql.Literal(probe.admin_password)))  # fmt: skip
        if admin_option:
            root.execute(sql.SQL("GRANT pg_monitor TO {} WITH ADMIN OPTION").format(sql.Identifier(PROBE_ADMIN)))
        try:
            with admin(probe, "postgres") as connection:
                connection.execute(f'CREATE ROLE "{PROBE_MONITOR}" LOGIN')
                try:
                    # resource_postgresql_role.go, grantRoles: one GRANT per entry of `roles`.
                    connection.execute(f'GRANT "pg_monitor" TO "{PROBE_MONITOR}"')
                except errors.InsufficientPrivilege:
                    return False
                row = connection.execute("SELECT pg_has_role(%s, 'pg_monitor', 'MEMBER')", (PROBE_MONITOR,))
                return bool(row.fetchone() == (True,))
        finally:
            root.execute(f'DROP ROLE IF EXISTS "{PROBE_MONITOR}"')
            root.execute(f'DROP ROLE "{PROBE_ADMIN}"')


def _managed_config(servers: Servers, admin_option: bool) -> dict[str, Any]:
    config = external_config(servers)
    for name in POSTGRES:
        config["servers"][name].update(
            superuser=False, adminGrantsPgMonitor=admin_option, adminGrantsPgReadAllData=admin_option
        )
    return config


@pytest.mark.admin_kind_independent
@pytest.mark.parametrize("admin_option", [False, True], ids=["without-admin-option", "with-admin-option"])
def test_refused_at_plan_time_exactly_where_the_server_refuses_the_grant(servers: Servers, admin_option: bool) -> None:
    granted = _grant_as_managed_admin(servers, admin_option)
    try:
        load_topology(_managed_config(servers, admin_option), "dev")
        refusal = None
    except ConfigError as error:
        refusal = str(error)
    assert (refusal is None) == granted, f"PostgreSQL {servers.combination.version}: granted={granted}, {refusal}"
    if refusal is not None:
        assert refusal.startswith("engarde:servers.main.adminGrantsPgMonitor: must be true") and "\n" not in refusal
    # The cases the matrix exists for: 15 lets CREATEROLE grant it, 16+ needs the ADMIN OPTION.
    assert granted == (admin_option or servers.combination.version == 15)
