"""Each server component holds everything on its server: roles, database, schemas, grants, pooler, users."""

from __future__ import annotations

import pytest

from resource_types import COMPONENT_PREFIX
from review.capture.program import Capture
from tests.components.identity import EXTRA_SERVICE, MAIN_POOLED
from tests.components.tree import ancestors, component
from tests.conftest import ADMIN_PASSWORDS, cached_run_program, capture, stack_file_config
from tests.graph import DEFAULT_PRIVILEGES, GRANT, SCHEMA, inputs, server_of

CONFIGS = {
    "dev": lambda: capture("dev"),
    "prod": lambda: capture("prod", **ADMIN_PASSWORDS),
    "shared": lambda: capture("dev", langflowPlacement="shared"),
    "extended": lambda: capture("dev", services=EXTRA_SERVICE, servers=MAIN_POOLED),
}
SERVER_TYPES = {f"{COMPONENT_PREFIX}:PostgresServer", f"{COMPONENT_PREFIX}:MysqlServer"}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_every_database_resource_is_under_its_server(config: str) -> None:
    result = CONFIGS[config]()
    on_a_server = [r for r in result.resources if r.provider and not r.type.startswith("pulumi:providers:")]
    assert len(on_a_server) > 50
    for resource in on_a_server:
        server = server_of(result, resource)
        path = [(a.type, a.name) for a in ancestors(result, resource)]
        assert path[-1][1] == server and path[-1][0] in SERVER_TYPES, (resource.urn, path)


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_every_grant_is_under_the_schema_it_is_on(config: str) -> None:
    """Server -> database -> schema -> (access group or audit log) -> what grants on the schema."""
    result = CONFIGS[config]()
    for resource in [*result.by_type(GRANT), *result.by_type(DEFAULT_PRIVILEGES), *result.by_type(SCHEMA)]:
        values = inputs(resource)
        schema = str(values["name"] if resource.type == SCHEMA else values["schema"])
        server = server_of(result, resource)
        path = [a.type.removeprefix(f"{COMPONENT_PREFIX}:") for a in ancestors(result, resource)]
        owner = ancestors(result, resource)[path.index("ServiceSchema")]
        assert owner.name == f"{server}-{schema}", resource.urn
        assert path[path.index("ServiceSchema") :] == ["ServiceSchema", "PostgresDatabase", "PostgresServer"]


def test_roles_audit_log_and_pooler_hang_under_their_server_and_schema() -> None:
    result = CONFIGS["extended"]()
    main = component(result, "PostgresServer", "main")
    roles = result.by_type(f"{COMPONENT_PREFIX}:DatabaseRole")
    assert roles and all(r.parent == component(result, "PostgresServer", r.name.split("-")[0]).urn for r in roles)
    assert {r.name for r in roles} >= {"main-onside_read", "main-onside_user", "main-audit_owner"}
    assert component(result, "PgBouncer", "main-pgbouncer").parent == main.urn
    audit = component(result, "ServiceSchema", "main-audit")
    assert component(result, "AuditLog", "main-audit-log").parent == audit.urn
    assert component(result, "AccessGroup", "main-audit_append").parent == audit.urn


@pytest.mark.parametrize("config", ["dev", "prod"])
def test_the_mysql_server_holds_its_database_and_backup_user(config: str) -> None:
    result: Capture = CONFIGS[config]()
    scheduler = component(result, "MysqlServer", "scheduler")
    for type_name in ("SchedulerDatabase", "MysqlBackupUser"):
        found = result.by_type(f"{COMPONENT_PREFIX}:{type_name}")
        assert found and all(r.parent == scheduler.urn for r in found), type_name


def test_an_unprotected_container_servers_objects_go_with_its_volume_and_a_protected_ones_do_not() -> None:
    """`deleted_with` the data volume on dev (created again when the volume is replaced, no DROP when it goes);
    never with `protect`, where a stopped `destroy` would otherwise drop them from the state and leave them."""
    for protect in (False, True):
        capture = cached_run_program({**stack_file_config("dev"), "protect": protect}, "dev")
        volume = next(r.urn for r in capture.resources if r.name == "main-data")
        on_main = [
            r for r in capture.resources if r.custom and r.type.startswith("postgresql:") and r.name.startswith("main-")
        ]
        assert len(on_main) > 20
        expected = None if protect else volume
        assert {r.deleted_with for r in on_main} == {expected}, protect
        passwords = [r for r in capture.resources if r.name == "main-madansara_user-password"]
        assert passwords[0].deleted_with is None
