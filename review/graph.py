"""Questions the plan views ask of a captured program run: the component tree, the order in which
the engine creates resources, and which database server a resource acts on."""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from review.capture import Capture, Resource, unwrap_secrets

POSTGRES_SERVER = "engarde:index:PostgresServer"
MYSQL_SERVER = "engarde:index:MysqlServer"
SERVER_COMPONENTS = (POSTGRES_SERVER, MYSQL_SERVER)
DYNAMIC_RESOURCE = "pulumi-python:dynamic:Resource"
POSTGRES_PROVIDER = "pulumi:providers:postgresql"


def short_type(type_: str) -> str:
    """`postgresql:index/grant:Grant` -> `postgresql:Grant`; `engarde:index:AccessGroup` -> `AccessGroup`."""
    if type_ == DYNAMIC_RESOURCE:
        return "dynamic:Resource"
    if type_.startswith("pulumi:providers:"):
        return "provider:" + type_.removeprefix("pulumi:providers:")
    package, _, rest = type_.partition(":")
    name = rest.rpartition(":")[2]
    return name if package == "engarde" else f"{package}:{name}"


def _by_name(resource: Resource) -> tuple[str, str]:
    return resource.name, resource.type


def children(capture: Capture) -> dict[str | None, list[Resource]]:
    """Parent URN -> children sorted by name; top-level resources under None.

    Not in registration order: a resource registers once its inputs resolve, so that order
    changes from run to run, and a plan posted on every push must not.
    """
    known = {r.urn for r in capture.resources}
    tree: dict[str | None, list[Resource]] = {}
    for resource in capture.resources:
        # The stack resource itself is not captured: its children are the roots.
        parent = resource.parent if resource.parent in known else None
        tree.setdefault(parent, []).append(resource)
    return {parent: sorted(kids, key=_by_name) for parent, kids in tree.items()}


def canonical_order(capture: Capture) -> list[Resource]:
    """Every resource, parents before children, siblings by name: the same for every run."""
    tree = children(capture)
    order: list[Resource] = []

    def visit(parent: str | None) -> None:
        for resource in tree.get(parent, []):
            order.append(resource)
            visit(resource.urn)

    visit(None)
    return order


def stack_urn(capture: Capture) -> str | None:
    """URN of the stack resource, the parent of every top-level resource."""
    known = {r.urn for r in capture.resources}
    return next((r.parent for r in capture.resources if r.parent and r.parent not in known), None)


def _custom_descendants(urn: str, tree: dict[str | None, list[Resource]]) -> list[str]:
    found: list[str] = []
    for child in tree.get(urn, []):
        if child.custom:
            found.append(child.urn)
        found.extend(_custom_descendants(child.urn, tree))
    return found


def prerequisites(capture: Capture) -> dict[str, set[str]]:
    """URN -> URNs that must exist before it: its dependencies and its provider.

    Waiting for a component means waiting for every resource under it, as the engine does.
    """
    by_urn = capture.by_urn()
    tree = children(capture)
    needs: dict[str, set[str]] = {}
    for resource in capture.resources:
        direct = [*resource.depends_on, *([resource.provider] if resource.provider else [])]
        expanded: set[str] = set()
        for urn in direct:
            dependency = by_urn.get(urn)
            if dependency is None:
                continue
            if dependency.custom:
                expanded.add(urn)
            else:
                expanded.update(_custom_descendants(urn, tree))
        expanded.discard(resource.urn)
        needs[resource.urn] = expanded
    return needs


_CREATION_RANK = {
    "postgresql:index/role:Role": 1,
    "mysql:index/user:User": 1,
    "postgresql:index/database:Database": 2,
    "mysql:index/database:Database": 2,
    "postgresql:index/grantRole:GrantRole": 3,
    "postgresql:index/schema:Schema": 4,
    "postgresql:index/grant:Grant": 5,
    "mysql:index/grant:Grant": 5,
    "postgresql:index/defaultPrivileges:DefaultPrivileges": 6,
    DYNAMIC_RESOURCE: 7,
}
"""Among resources that could go next, the order a DBA would write them in: roles, databases,
memberships, schemas, grants, default privileges, then scripts. Everything else ranks 0."""


def creation_order(capture: Capture) -> list[Resource]:
    """Every resource after everything it waits for; among those ready, by kind, then by name.

    A deterministic tie-break rather than registration order, which varies between runs.
    """
    needs = prerequisites(capture)
    ranked = sorted(capture.resources, key=lambda r: (_CREATION_RANK.get(r.type, 0), r.name, r.type, r.urn))
    index = {r.urn: i for i, r in enumerate(ranked)}
    waiting = {urn: len(deps) for urn, deps in needs.items()}
    dependents: dict[str, list[str]] = {}
    for urn, deps in needs.items():
        for dependency in deps:
            dependents.setdefault(dependency, []).append(urn)
    ready = [index[urn] for urn, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[Resource] = []
    while ready:
        resource = ranked[heapq.heappop(ready)]
        order.append(resource)
        for dependent in dependents.get(resource.urn, []):
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, index[dependent])
    if len(order) != len(capture.resources):
        stuck = sorted(r.name for r in capture.resources if waiting[r.urn] > 0)
        raise ValueError(f"dependency cycle among: {', '.join(stuck)}")
    return order


def server_components(capture: Capture) -> list[Resource]:
    """The PostgresServer and MysqlServer components, in registration order."""
    return [r for r in capture.resources if r.type in SERVER_COMPONENTS]


def _provider_endpoint(provider: Resource) -> tuple[str, str] | None:
    inputs = unwrap_secrets(provider.inputs)
    if "host" not in inputs or "port" not in inputs:
        return None
    return str(inputs["host"]), _port_text(inputs["port"])


def _port_text(port: object) -> str:
    # Provider config arrives as strings ("5432"), resource inputs as wire numbers (5432.0).
    return str(int(port)) if isinstance(port, int | float) else str(port)


def server_of(capture: Capture, resource: Resource) -> str | None:
    """Name of the server component a resource acts on, or None if it is not a database resource.

    A provider resource belongs to the server component that is its parent. A dynamic resource
    has no provider: it is attributed by the endpoint it connects to (host and port inputs).
    """
    by_urn = capture.by_urn()
    provider = by_urn.get(resource.provider) if resource.provider else None
    if provider is None and resource.type.startswith("pulumi:providers:"):
        provider = resource
    if provider is not None:
        parent = by_urn.get(provider.parent) if provider.parent else None
        return parent.name if parent is not None and parent.type in SERVER_COMPONENTS else None
    if resource.type == DYNAMIC_RESOURCE:
        inputs = unwrap_secrets(resource.inputs)
        if "host" in inputs and "port" in inputs:
            return _server_at(capture, str(inputs["host"]), _port_text(inputs["port"]))
    return None


def _server_at(capture: Capture, host: str, port: str) -> str | None:
    for candidate in capture.resources:
        if candidate.type == POSTGRES_PROVIDER and _provider_endpoint(candidate) == (host, port):
            return server_of(capture, candidate)
    return None


def provider_of_server(capture: Capture, server: str) -> Resource:
    """The provider resource of a server component."""
    component = next((r for r in server_components(capture) if r.name == server), None)
    if component is None:
        raise KeyError(server)
    for resource in capture.resources:
        if resource.parent == component.urn and resource.type.startswith("pulumi:providers:"):
            return resource
    raise KeyError(f"server {server!r} has no provider")


def count_by_type(resources: Iterable[Resource]) -> list[tuple[str, int]]:
    """(type, count), most frequent first, then by type."""
    counts: dict[str, int] = {}
    for resource in resources:
        counts[resource.type] = counts.get(resource.type, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))
