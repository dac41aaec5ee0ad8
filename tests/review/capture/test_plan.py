"""The plan model: its indexes agree with the capture, a resource's server comes from its provider
(however deep the resource sits), and the creation order respects every dependency edge."""

from __future__ import annotations

from typing import Any

import pytest

from resource_types import (
    COMPONENT_PREFIX,
    DYNAMIC_RESOURCE,
    MYSQL_PREFIX,
    MYSQL_PROVIDER,
    MYSQL_SERVER,
    PG_GRANT,
    PG_ROLE,
    PG_SCHEMA,
    POSTGRES_PROVIDER,
    POSTGRES_SERVER,
    POSTGRESQL_PREFIX,
    RANDOM_PASSWORD,
)
from review.capture.plan import Plan
from review.capture.program import Capture, Resource
from tests.review.conftest import CONFIGS, plan_for

STACK_URN = "urn:pulumi:test::engarde::pulumi:pulumi:Stack::engarde-test"


def _resource(
    type_: str,
    name: str,
    parent: str | None = STACK_URN,
    *,
    custom: bool = True,
    provider: str | None = None,
    depends_on: tuple[str, ...] = (),
    property_dependencies: dict[str, list[str]] | None = None,
    **inputs: Any,
) -> Resource:
    return Resource(
        urn=f"urn:pulumi:test::engarde::{type_}::{name}",
        type=type_,
        name=name,
        parent=parent,
        custom=custom,
        inputs=dict(inputs),
        depends_on=list(depends_on),
        property_dependencies=property_dependencies or {},
        provider=provider,
        protect=False,
        retain_on_delete=False,
    )


def _component(type_: str, name: str, parent: str | None = STACK_URN) -> Resource:
    return _resource(type_, name, parent, custom=False)


def _nested_stack() -> tuple[Capture, dict[str, Resource]]:
    """Two servers; on `main` a grant three components deep, whose names say nothing of its server,
    and a grant parked under `main`'s tree that uses `flowdb`'s provider."""
    main = _component(POSTGRES_SERVER, "main")
    flowdb = _component(POSTGRES_SERVER, "flowdb")
    scheduler = _component(MYSQL_SERVER, "scheduler")
    main_provider = _resource(POSTGRES_PROVIDER, "main-provider", main.urn, host="main", port="5432")
    flowdb_provider = _resource(POSTGRES_PROVIDER, "flowdb-provider", flowdb.urn, host="flowdb", port="5432")
    scheduler_provider = _resource(MYSQL_PROVIDER, "scheduler-provider", scheduler.urn)
    database = _component(f"{COMPONENT_PREFIX}:PostgresDatabase", "engarde", main.urn)
    schema_component = _component(f"{COMPONENT_PREFIX}:ServiceSchema", "billing", database.urn)
    schema = _resource(PG_SCHEMA, "billing-schema", schema_component.urn, provider=main_provider.urn)
    role = _resource(PG_ROLE, "billing-user", schema_component.urn, provider=main_provider.urn)
    grant = _resource(
        PG_GRANT, "billing-read", schema_component.urn, provider=main_provider.urn, depends_on=(schema.urn, role.urn)
    )
    misplaced = _resource(PG_GRANT, "elsewhere", schema_component.urn, provider=flowdb_provider.urn)
    script = _resource(DYNAMIC_RESOURCE, "table-script", schema_component.urn, host="flowdb", port=5432.0)
    password = _resource(RANDOM_PASSWORD, "billing-password", role.urn)
    resources = [
        # registration order is not creation order: children before parents, grant before role
        grant, misplaced, script, role, password, schema, schema_component, database,
        main_provider, flowdb_provider, scheduler_provider, main, flowdb, scheduler,
    ]  # fmt: skip
    outputs: dict[str, Any] = {"servers": {"scheduler": {}, "main": {}}}
    named = {r.name: r for r in resources}
    return Capture(stack="test", resources=resources, outputs=outputs), named


def test_indexes_hold_every_resource_once() -> None:
    capture, named = _nested_stack()
    plan = Plan(capture)
    assert dict(plan.by_urn()) == {r.urn: r for r in capture.resources}
    assert plan.by_type(PG_GRANT) == [named["billing-read"], named["elsewhere"]]
    assert plan.by_type("no:such:Type") == []
    assert plan.stack_urn == STACK_URN
    assert [r.name for r in plan.children[None]] == ["flowdb", "main", "scheduler"]
    assert [r.name for r in plan.children[named["billing"].urn]] == [
        "billing-read", "billing-schema", "billing-user", "elsewhere", "table-script",
    ]  # fmt: skip
    assert sorted(r.urn for r in plan.canonical_order) == sorted(r.urn for r in capture.resources)
    position = {r.urn: i for i, r in enumerate(plan.canonical_order)}
    assert all(position[r.parent] < position[r.urn] for r in capture.resources if r.parent in position)


def test_a_resource_is_on_the_server_whose_component_holds_its_provider() -> None:
    capture, named = _nested_stack()
    plan = Plan(capture)
    assert plan.server_of(named["billing-read"]) == "main"  # three components below the server
    assert plan.server_of(named["elsewhere"]) == "flowdb"  # its provider decides, not its place in the tree
    assert plan.server_of(named["main-provider"]) == "main"
    assert plan.server_of(named["table-script"]) == "flowdb"  # no provider: the endpoint it connects to
    assert plan.server_of(named["billing-password"]) is None
    assert plan.server_of(named["billing"]) is None
    assert plan.provider_of_server("scheduler") is named["scheduler-provider"]
    assert [r.name for r in plan.on_server("main")] == [
        "main-provider",
        "billing-user",
        "billing-schema",
        "billing-read",
    ]
    with pytest.raises(KeyError):
        plan.provider_of_server("nowhere")


def test_server_names_follow_the_servers_output_then_the_rest_by_name() -> None:
    capture, _named = _nested_stack()
    assert Plan(capture).server_names() == ["scheduler", "main", "flowdb"]


def test_creation_order_waits_for_dependencies_providers_custom_parents_and_components() -> None:
    capture, named = _nested_stack()
    after_component = _resource(PG_ROLE, "after-component", depends_on=(named["billing"].urn,))
    through_input = _resource(PG_ROLE, "through-input", property_dependencies={"roles": [named["billing-user"].urn]})
    capture.resources += [after_component, through_input]
    plan = Plan(capture)
    position = {r.name: i for i, r in enumerate(plan.creation_order)}
    assert len(position) == len(capture.resources)
    assert position["billing-schema"] < position["billing-read"] and position["billing-user"] < position["billing-read"]
    assert position["main-provider"] < position["billing-user"]  # provider edge
    assert position["billing-user"] < position["billing-password"]  # custom parent edge
    assert position["billing-user"] < position["through-input"]  # input Output edge
    # Waiting for a component is waiting for every custom resource under it.
    under = {"billing-read", "billing-schema", "billing-user", "elsewhere", "table-script", "billing-password"}
    assert plan.prerequisites[after_component.urn] == {named[name].urn for name in under}
    assert all(position[name] < position["after-component"] for name in under)
    assert plan.waits_for(named["billing-password"].urn) == {named["billing-user"].urn, named["main-provider"].urn}


def test_a_dependency_cycle_is_refused_naming_its_resources() -> None:
    first = _resource(PG_ROLE, "first", depends_on=("urn:pulumi:test::engarde::" + PG_ROLE + "::second",))
    second = _resource(PG_ROLE, "second", depends_on=(first.urn,))
    with pytest.raises(ValueError, match="dependency cycle among: first, second"):
        Plan(Capture(stack="test", resources=[first, second], outputs={}))


@pytest.mark.parametrize("config", CONFIGS)
def test_the_stacks_database_resources_each_have_a_server_and_come_after_what_they_wait_for(config: str) -> None:
    plan = plan_for(config)
    position = {r.urn: i for i, r in enumerate(plan.creation_order)}
    assert len(position) == len(plan.resources)
    for resource in plan.resources:
        assert all(position[need] < position[resource.urn] for need in plan.prerequisites[resource.urn])
        if resource.provider:
            assert position[resource.provider] < position[resource.urn]
        if resource.type.startswith((POSTGRESQL_PREFIX, MYSQL_PREFIX)):
            assert plan.server_of(resource) in plan.server_components, resource.name
    assert set(plan.server_names()) == set(plan.outputs["servers"])
