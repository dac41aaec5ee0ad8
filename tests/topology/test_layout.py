"""The layout derived from stack config alone (no Pulumi): the access matrix, the privileges, each server's share."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import ADMIN_PASSWORDS, stack_file_config
from tests.expected import DEDICATED_MATRIX, SHARED_MATRIX
from topology import Topology, load_topology
from topology.model import GROUP_PROFILES, ObjectType, Privilege, Profile, privilege_sets
from topology.names import LONGEST_ROLE_SUFFIX


def topology_of(stack: str, **overrides: object) -> Topology:
    config = stack_file_config(stack) | (ADMIN_PASSWORDS if stack == "prod" else {}) | overrides
    return load_topology(config, stack)


def matrix(topology: Topology) -> dict[tuple[str, str, str], str]:
    return {(a.server, a.schema, a.role): a.profile.value for a in topology.access}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_dedicated_access_matrix_is_the_documented_one(stack: str) -> None:
    assert matrix(topology_of(stack)) == DEDICATED_MATRIX


def test_shared_access_matrix_is_the_documented_one() -> None:
    assert matrix(topology_of("dev", langflowPlacement="shared")) == SHARED_MATRIX


def test_every_cell_but_owner_and_backup_is_held_through_exactly_one_group() -> None:
    topology = topology_of("dev")
    for cell in topology.access:
        holders = [g for g in topology.layouts[cell.server].groups_of(cell.role) if g.schema == cell.schema]
        if cell.profile in (Profile.OWNER, Profile.BACKUP):
            assert holders == [], cell
        else:
            assert [(g.name, g.profile) for g in holders] == [(f"{cell.schema}_{cell.profile}", cell.profile)]


def test_read_group_privileges_cover_schema_present_objects_and_future_ones_of_the_schema_owner() -> None:
    layout = topology_of("dev").layouts["main"]
    (group,) = [g for g in layout.groups if g.name == "madansara_read"]
    assert group.creator == "madansara_user"
    assert set(group.privileges) == {
        Privilege("main", "engarde", "madansara", ObjectType.SCHEMA, "madansara_read", "USAGE"),
        Privilege("main", "engarde", "madansara", ObjectType.TABLE, "madansara_read", "SELECT"),
        Privilege("main", "engarde", "madansara", ObjectType.SEQUENCE, "madansara_read", "SELECT"),
        Privilege("main", "engarde", "madansara", ObjectType.TABLE, "madansara_read", "SELECT", "madansara_user"),
        Privilege("main", "engarde", "madansara", ObjectType.SEQUENCE, "madansara_read", "SELECT", "madansara_user"),
    }


def test_owner_of_existing_public_gets_usage_and_create_and_owners_of_created_schemas_nothing() -> None:
    layout = topology_of("dev").layouts["flowdb"]
    owner_grants = [p for s in layout.schemas for p in s.owner_privileges]
    assert sorted((p.schema, p.grantee, p.privilege) for p in owner_grants) == [
        ("public", "langflow_app", "CREATE"),
        ("public", "langflow_app", "USAGE"),
    ]
    main = topology_of("dev").layouts["main"]
    assert all(p.schema == "public" for s in main.schemas for p in s.owner_privileges)


def test_one_provider_resource_per_grant_key_in_creation_order() -> None:
    topology = topology_of("dev")
    sets = privilege_sets(topology.privileges)
    keys = [(s.server, s.database, s.schema, s.object_type, s.grantee, s.default_for) for s in sets]
    assert len(keys) == len(set(keys))
    (audit_append,) = [g for g in topology.layouts["main"].groups if g.name == "audit_append"]
    assert [(s.resource_suffix, s.privileges) for s in privilege_sets(audit_append.privileges)] == [
        ("schema", ("USAGE",)),
        ("tables", ("INSERT",)),
        ("sequences", ("USAGE",)),
        ("default-tables", ("INSERT",)),
        ("default-sequences", ("USAGE",)),
    ]


def test_each_server_layout_holds_exactly_its_own_objects() -> None:
    topology = topology_of("dev")
    layouts = topology.layouts
    assert list(layouts) == list(topology.servers)
    assert Counter(r for layout in layouts.values() for r in layout.roles) == Counter(topology.roles)
    assert all(r.server == name for name, layout in layouts.items() for r in layout.roles)
    assert all(s.server == name for name, layout in layouts.items() for s in layout.schemas)
    assert [u.name for u in layouts["scheduler"].users] == ["scheduler_user"]
    assert layouts["scheduler"].roles == () and layouts["main"].users == ()
    assert ("pg_monitor", "engarde_monitor") in layouts["flowdb"].memberships
    assert ("public_read", "engarde_flow_reader") in layouts["flowdb"].memberships


def test_group_role_suffix_room_is_derived_from_the_group_profiles() -> None:
    assert "_" + max((p.value for p in GROUP_PROFILES), key=len) == LONGEST_ROLE_SUFFIX
    assert LONGEST_ROLE_SUFFIX == "_append"
