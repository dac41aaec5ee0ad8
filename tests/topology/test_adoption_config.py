"""Adopting existing objects: config refused where it cannot work, and what the program registers."""

from __future__ import annotations

from typing import Any

import pytest

from resource_types import MYSQL_DATABASE
from review.capture.program import Capture
from tests.conftest import ADMIN_PASSWORDS, capture
from tests.graph import ROLE, inputs
from topology import ConfigError, load_topology


def servers(main: dict[str, Any] | None = None, scheduler: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "main": {
            "mode": "external",
            "host": "db.example.internal",
            "maxConnections": 200,
            "version": 15,
            **(main or {}),
        },
        "flowdb": {"mode": "external", "host": "flow.example.internal", "version": 15},
        "scheduler": {"mode": "external", "host": "mysql.example.internal", **(scheduler or {})},
    }


@pytest.mark.parametrize(
    ("main", "scheduler", "key", "fragment"),
    [
        ({"adoptRoles": ["nobody"]}, None, "servers.main.adoptRoles[0]", "not a role of the layout on main"),
        ({"adoptRoles": ["onside_read"]}, None, "servers.main.adoptRoles[0]", "not a role of the layout on main"),
        ({"adoptRoles": ["onside_user", "onside_user"]}, None, "servers.main.adoptRoles", "twice"),
        ({"adoptRoles": "onside_user"}, None, "servers.main.adoptRoles", "a list"),
        ({"adoptDatabase": True}, None, "servers.main.adoptDatabase", "always adopted"),
        ({"collation": "utf8mb4_bin"}, None, "servers.main.collation", "MySQL only"),
        (None, {"adoptRoles": ["scheduler_user"]}, "servers.scheduler.adoptRoles", "PostgreSQL servers only"),
        (None, {"collation": "utf8mb4 bin"}, "servers.scheduler.collation", "collation name"),
        (None, {"adoptDatabase": "yes"}, "servers.scheduler.adoptDatabase", "true or false"),
    ],
)
def test_adoption_settings_that_cannot_work_are_refused_naming_the_key(
    main: dict[str, Any] | None, scheduler: dict[str, Any] | None, key: str, fragment: str
) -> None:
    config = {"servers": servers(main, scheduler), **ADMIN_PASSWORDS}
    with pytest.raises(ConfigError) as error:
        load_topology(config, "prod")
    assert error.value.key == key and fragment in str(error.value)


def test_prod_imports_the_existing_scheduler_database(prod: Capture) -> None:
    (database,) = prod.by_type(MYSQL_DATABASE)
    assert database.import_id == "easyappointments"
    assert (inputs(database)["defaultCharacterSet"], inputs(database)["defaultCollation"]) == (
        "utf8mb4",
        "utf8mb4_unicode_ci",
    )
    assert database.protect
    # Nothing else is imported unless listed.
    assert [r.name for r in prod.resources if r.import_id] == ["scheduler-easyappointments"]


def test_dev_creates_its_scheduler_database(dev: Capture) -> None:
    (database,) = dev.by_type(MYSQL_DATABASE)
    assert database.import_id is None


def test_listed_roles_are_imported_by_name_and_only_they() -> None:
    result = capture("prod", servers=servers({"adoptRoles": ["engarde_app", "audit_owner"]}), **ADMIN_PASSWORDS)
    imported = {inputs(r)["name"]: r for r in result.by_type(ROLE) if r.import_id}
    assert set(imported) == {"engarde_app", "audit_owner"}
    for name, role in imported.items():
        assert role.import_id == name
        # What an import cannot match (no password is read back; memberships, search_path and the
        # provider-side skip flag are whatever the role had) is left for the next `pulumi up`.
        assert set(role.ignore_changes) == {"password", "roles", "searchPaths", "skipReassignOwned", "connectionLimit"}
    flowdb_roles = [r for r in result.by_type(ROLE) if r.import_id and "flowdb" in r.urn]
    assert not flowdb_roles, "adoptRoles is per server"


def test_a_stack_file_collation_reaches_the_database() -> None:
    result = capture("prod", servers=servers(None, {"adoptDatabase": True, "collation": "utf8mb4_general_ci"}),
                     **ADMIN_PASSWORDS)  # fmt: skip
    (database,) = result.by_type(MYSQL_DATABASE)
    assert inputs(database)["defaultCollation"] == "utf8mb4_general_ci"
