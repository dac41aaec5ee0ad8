"""Grants on one schema run one after another; a group's resources are its privilege sets."""

from __future__ import annotations

import itertools

import pytest

from resource_types import COMPONENT_PREFIX
from review.capture.program import Capture, Resource
from tests.components.tree import component, descendants
from tests.conftest import ADMIN_PASSWORDS, capture, stack_file_config
from tests.graph import CONTAINER, DEFAULT_PRIVILEGES, GRANT, SCHEMA, ancestors, inputs, server_of
from topology import load_topology
from topology.model import privilege_sets

SQL_SCRIPT = "pulumi-python:dynamic:Resource"
ON_A_SCHEMA = {GRANT, DEFAULT_PRIVILEGES, SCHEMA, SQL_SCRIPT}


def chain(result: Capture, schema: Resource) -> list[Resource]:
    """What the schema component holds that grants on the schema, in registration order."""
    return [r for r in descendants(result, schema) if r.type in ON_A_SCHEMA]


def schemas(result: Capture) -> list[Resource]:
    return result.by_type(f"{COMPONENT_PREFIX}:ServiceSchema")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_everything_on_one_schema_forms_one_chain(stack: str) -> None:
    result = capture(stack, **(ADMIN_PASSWORDS if stack == "prod" else {}))
    chained: set[str] = set()
    for schema in schemas(result):
        links = chain(result, schema)
        assert len(links) >= 2, schema.name
        assert not set(links[0].depends_on) & {r.urn for r in links}
        for previous, resource in itertools.pairwise(links):
            assert previous.urn in resource.depends_on, (schema.name, resource.name)
        chained.update(r.urn for r in links)
    every_grant = [*result.by_type(GRANT), *result.by_type(DEFAULT_PRIVILEGES)]
    assert {r.urn for r in every_grant} <= chained


def test_the_audit_chain_is_schema_then_table_then_each_groups_grants(dev: Capture) -> None:
    links = chain(dev, component(dev, "ServiceSchema", "main-audit"))
    assert [r.type for r in links[:2]] == [SCHEMA, SQL_SCRIPT]
    assert [r.name for r in links[2:]] == [
        f"main-audit_{profile}-{suffix}"
        for profile in ("append", "read")
        for suffix in ("schema", "tables", "sequences", "default-tables", "default-sequences")
    ]


def test_the_existing_public_schema_revokes_public_then_grants_its_owner(dev: Capture) -> None:
    topology = load_topology(stack_file_config("dev"), "dev")
    public = next(s for s in topology.layouts["main"].schemas if s.name == "public")
    revoke, owner, *groups = chain(dev, component(dev, "ServiceSchema", "main-public"))
    assert revoke.name == "main-public-public-revoke"
    assert (inputs(revoke)["role"], inputs(revoke)["privileges"]) == ("public", [])
    (wanted,) = privilege_sets(public.owner_privileges)
    assert (owner.name, inputs(owner)["role"]) == ("main-public-owner", public.owner)
    assert (inputs(owner)["objectType"], inputs(owner)["privileges"]) == ("schema", list(wanted.privileges))
    assert groups and all(g.name.startswith("main-public_") for g in groups)


@pytest.mark.parametrize("placement", ["dedicated", "shared"])
def test_each_group_holds_exactly_its_privilege_sets(placement: str) -> None:
    result = capture("dev", langflowPlacement=placement)
    topology = load_topology({**stack_file_config("dev"), "langflowPlacement": placement}, "dev")
    for layout in topology.layouts.values():
        for group in layout.groups:
            held = descendants(result, component(result, "AccessGroup", f"{layout.name}-{group.name}"))
            found = [
                (r.name, inputs(r)["objectType"], inputs(r)["role"], inputs(r).get("owner"), inputs(r)["privileges"])
                for r in held
            ]
            wanted = [
                (
                    f"{layout.name}-{group.name}-{s.resource_suffix}",
                    s.object_type.value,
                    s.grantee,
                    s.default_for,
                    list(s.privileges),
                )
                for s in privilege_sets(group.privileges)
            ]
            assert found == wanted


def test_a_service_waits_for_the_last_link_of_each_server_its_role_uses(dev: Capture) -> None:
    """Every schema's chain is its server's one chain (see components/ordering.py): a service waits for its
    last link, after which every grant on the server is in place."""
    topology = load_topology(stack_file_config("dev"), "dev")
    order = {r.urn: i for i, r in enumerate(dev.resources)}
    last: dict[str, Resource] = {}
    for schema in schemas(dev):
        for link in chain(dev, schema):
            server = server_of(dev, link)
            assert server is not None
            if server not in last or order[link.urn] > order[last[server].urn]:
                last[server] = link
    onside = next(c for c in dev.by_type(CONTAINER) if c.name == "onside")
    cells = [a for a in topology.access if a.role == "onside_user"]
    assert cells
    for cell in cells:
        assert last[cell.server].urn in onside.depends_on, cell


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_grant_on_a_server_runs_after_the_previous_one_whatever_the_admin(stack: str) -> None:
    """No two grants or default privileges of one server run at once: the provider's pgLockRole locks a role
    and then each of its members, and readers are members of several groups, so two concurrent grants can
    take the same locks in opposite orders (40P01, seen with a superuser admin too)."""
    result = capture(stack, **(ADMIN_PASSWORDS if stack == "prod" else {}))
    by_server: dict[str, list[Resource]] = {}
    for resource in [*result.by_type(GRANT), *result.by_type(DEFAULT_PRIVILEGES)]:
        server = server_of(result, resource)
        assert server is not None
        by_server.setdefault(server, []).append(resource)
    for server, grants in by_server.items():
        waits = {g.urn: ancestors(result, g) for g in grants}
        for first, second in itertools.combinations(grants, 2):
            assert first.urn in waits[second.urn] or second.urn in waits[first.urn], (server, first.name, second.name)
