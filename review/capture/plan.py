"""The plan model: a captured program run with the indexes every view needs, built once.

`Plan(capture)` computes, in one pass each: resources by URN and by type, the component tree
(children by parent), the stack URN, each resource's database server, and the dependency graph
with the order in which the engine creates resources. Every view reads these instead of
scanning the capture, so rendering is linear in the number of resources.

A resource's server is the server component its provider is a child of, however deep the
resource itself sits in the tree (a Grant under a schema component under a database component
is still on the server whose provider it uses).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from typing import Any

from resource_types import (
    DYNAMIC_RESOURCE,
    MYSQL_DATABASE,
    MYSQL_GRANT,
    MYSQL_USER,
    PG_DATABASE,
    PG_DEFAULT_PRIVILEGES,
    PG_GRANT,
    PG_GRANT_ROLE,
    PG_ROLE,
    PG_SCHEMA,
    POSTGRES_PROVIDER,
    PROVIDER_PREFIX,
    SERVER_COMPONENTS,
)
from review.capture.program import Capture, Resource, unwrap_secrets

_CREATION_RANK = {
    PG_ROLE: 1,
    MYSQL_USER: 1,
    PG_DATABASE: 2,
    MYSQL_DATABASE: 2,
    PG_GRANT_ROLE: 3,
    PG_SCHEMA: 4,
    PG_GRANT: 5,
    MYSQL_GRANT: 5,
    PG_DEFAULT_PRIVILEGES: 6,
    DYNAMIC_RESOURCE: 7,
}
"""Among resources that could go next, the order a DBA would write them in: roles, databases,
memberships, schemas, grants, default privileges, then scripts. Everything else ranks 0."""


def short_type(type_: str) -> str:
    """`postgresql:index/grant:Grant` -> `postgresql:Grant`; `engarde:index:AccessGroup` -> `AccessGroup`."""
    if type_ == DYNAMIC_RESOURCE:
        return "dynamic:Resource"
    if type_.startswith(PROVIDER_PREFIX):
        return "provider:" + type_.removeprefix(PROVIDER_PREFIX)
    package, _, rest = type_.partition(":")
    name = rest.rpartition(":")[2]
    return name if package == "engarde" else f"{package}:{name}"


def count_by_type(resources: Iterable[Resource]) -> list[tuple[str, int]]:
    """(type, count), most frequent first, then by type."""
    counts: dict[str, int] = {}
    for resource in resources:
        counts[resource.type] = counts.get(resource.type, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def is_provider(resource: Resource) -> bool:
    """Whether the resource is a provider resource (`pulumi:providers:<package>`)."""
    return resource.type.startswith(PROVIDER_PREFIX)


def _by_name(resource: Resource) -> tuple[str, str]:
    return resource.name, resource.type


def _port_text(port: object) -> str:
    # Provider config arrives as strings ("5432"), resource inputs as wire numbers (5432.0).
    return str(int(port)) if isinstance(port, int | float) else str(port)


def _endpoint(inputs: Mapping[str, Any]) -> tuple[str, str] | None:
    if "host" not in inputs or "port" not in inputs:
        return None
    return str(inputs["host"]), _port_text(inputs["port"])


class Plan:
    """A captured program run and its indexes (read-only: build a new Plan for another capture)."""

    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        self._by_urn: dict[str, Resource] = {r.urn: r for r in capture.resources}
        self._by_type: dict[str, list[Resource]] = {}
        for resource in capture.resources:
            self._by_type.setdefault(resource.type, []).append(resource)
        self.children = self._children()
        """Parent URN -> children sorted by name; top-level resources under None.

        Not in registration order: a resource registers once its inputs resolve, so that order
        changes from run to run, and a plan posted on every push must not."""
        self.stack_urn: str | None = next(
            (r.parent for r in capture.resources if r.parent and r.parent not in self._by_urn), None
        )
        """URN of the stack resource, the parent of every top-level resource (not captured itself)."""
        self.canonical_order = self._canonical_order()
        """Every resource, parents before children, siblings by name: the same for every run."""
        self.server_components: dict[str, Resource] = {
            r.name: r for r in capture.resources if r.type in SERVER_COMPONENTS
        }
        """The PostgresServer and MysqlServer components by name, in registration order."""
        self.server_providers: dict[str, Resource] = {}
        """Server name -> its provider resource (the provider that is a child of the server component)."""
        self._servers = self._server_index()
        self.prerequisites = self._prerequisites()
        """URN -> URNs of the custom resources that must exist before it: its `depends_on` (explicit and
        through input Outputs), its provider and a custom parent. Waiting for a component means
        waiting for every custom resource under it, as the engine does."""
        self.creation_order = self._creation_order()
        """Every resource after everything it waits for; among those ready, by kind, then by name.
        A deterministic tie-break rather than registration order, which varies between runs."""

    def alias_urns(self, resource: Resource) -> list[str]:
        """The URNs its `aliases` name, as this run's URNs are made (the mocks': a type qualified by
        its parent's type alone, so a child keeps its URN when only an ancestor moves)."""
        found = []
        for alias in resource.aliases:
            if "urn" in alias:
                found.append(str(alias["urn"]))
                continue
            parent = self.stack_urn if alias.get("noParent") else alias.get("parentUrn") or resource.parent
            prefix = "::".join(resource.urn.split("::")[:2])  # urn:pulumi:<stack>::<project>
            qualifier = "" if parent is None else parent.split("::")[2].split("$")[-1] + "$"
            found.append(
                f"{prefix}::{qualifier}{alias.get('type') or resource.type}::{alias.get('name') or resource.name}"
            )
        return found

    # What a capture holds ------------------------------------------------------------------------

    @property
    def stack(self) -> str:
        return self.capture.stack

    @property
    def resources(self) -> list[Resource]:
        """In registration order."""
        return self.capture.resources

    @property
    def outputs(self) -> dict[str, Any]:
        return self.capture.outputs

    def by_urn(self) -> Mapping[str, Resource]:
        return self._by_urn

    def by_type(self, type_: str) -> list[Resource]:
        """Resources of `type_`, in registration order."""
        return list(self._by_type.get(type_, ()))

    # Servers -------------------------------------------------------------------------------------

    def server_of(self, resource: Resource) -> str | None:
        """Name of the server component a resource acts on, or None if it is not a database resource.

        A resource acts on the server whose component is its provider's parent (a provider resource
        on its own). A dynamic resource has no provider: it is attributed by the endpoint it
        connects to (host and port inputs)."""
        return self._servers.get(resource.urn)

    def provider_of_server(self, server: str) -> Resource:
        """The provider resource of a server component."""
        if server not in self.server_components:
            raise KeyError(server)
        if server not in self.server_providers:
            raise KeyError(f"server {server!r} has no provider")
        return self.server_providers[server]

    def server_names(self) -> list[str]:
        """The database servers of the stack, in the order of its `servers` output (the program's)."""
        listed = [name for name in unwrap_secrets(self.outputs.get("servers", {})) if name in self.server_components]
        return listed + sorted(set(self.server_components) - set(listed))

    def on_server(self, server: str) -> list[Resource]:
        """The server's resources, in creation order."""
        return [r for r in self.creation_order if self._servers.get(r.urn) == server]

    def waits_for(self, urn: str) -> set[str]:
        """Every custom resource `urn` transitively waits for."""
        seen: set[str] = set()
        pending = list(self.prerequisites.get(urn, ()))
        while pending:
            current = pending.pop()
            if current not in seen:
                seen.add(current)
                pending.extend(self.prerequisites[current])
        return seen

    # Building the indexes ------------------------------------------------------------------------

    def _children(self) -> dict[str | None, list[Resource]]:
        tree: dict[str | None, list[Resource]] = {}
        for resource in self.capture.resources:
            parent = resource.parent if resource.parent in self._by_urn else None
            tree.setdefault(parent, []).append(resource)
        return {parent: sorted(kids, key=_by_name) for parent, kids in tree.items()}

    def _canonical_order(self) -> list[Resource]:
        order: list[Resource] = []
        pending = list(reversed(self.children.get(None, [])))
        while pending:
            resource = pending.pop()
            order.append(resource)
            pending.extend(reversed(self.children.get(resource.urn, [])))
        return order

    def _server_index(self) -> dict[str, str | None]:
        component_names = {r.urn: r.name for r in self.server_components.values()}
        provider_server: dict[str, str | None] = {}
        endpoints: dict[tuple[str, str], str | None] = {}
        for resource in self.capture.resources:
            if not is_provider(resource):
                continue
            server = component_names.get(resource.parent) if resource.parent else None
            provider_server[resource.urn] = server
            if server is not None:
                self.server_providers.setdefault(server, resource)
            if resource.type == POSTGRES_PROVIDER:
                endpoint = _endpoint(unwrap_secrets(resource.inputs))
                if endpoint is not None:
                    endpoints.setdefault(endpoint, server)
        servers: dict[str, str | None] = {}
        for resource in self.capture.resources:
            if resource.provider and resource.provider in self._by_urn:
                servers[resource.urn] = provider_server.get(resource.provider)
            elif is_provider(resource):
                servers[resource.urn] = provider_server[resource.urn]
            elif resource.type == DYNAMIC_RESOURCE:
                endpoint = _endpoint(unwrap_secrets(resource.inputs))
                servers[resource.urn] = endpoints.get(endpoint) if endpoint is not None else None
        return servers

    def _custom_under(self, urn: str, memo: dict[str, list[str]]) -> list[str]:
        if urn not in memo:
            found: list[str] = []
            for child in self.children.get(urn, []):
                if child.custom:
                    found.append(child.urn)
                found.extend(self._custom_under(child.urn, memo))
            memo[urn] = found
        return memo[urn]

    def _prerequisites(self) -> dict[str, set[str]]:
        memo: dict[str, list[str]] = {}
        needs: dict[str, set[str]] = {}
        for resource in self.capture.resources:
            direct = [*resource.depends_on, *(urn for urns in resource.property_dependencies.values() for urn in urns)]
            if resource.provider:
                direct.append(resource.provider)
            if resource.parent and resource.parent in self._by_urn and self._by_urn[resource.parent].custom:
                direct.append(resource.parent)
            expanded: set[str] = set()
            for urn in direct:
                dependency = self._by_urn.get(urn)
                if dependency is None:
                    continue  # the stack, or a default provider: not registered by the program
                if dependency.custom:
                    expanded.add(urn)
                else:
                    expanded.update(self._custom_under(urn, memo))
            expanded.discard(resource.urn)
            needs[resource.urn] = expanded
        return needs

    def _creation_order(self) -> list[Resource]:
        resources = self.capture.resources
        ranked = sorted(resources, key=lambda r: (_CREATION_RANK.get(r.type, 0), r.name, r.type, r.urn))
        index = {r.urn: i for i, r in enumerate(ranked)}
        waiting = {urn: len(deps) for urn, deps in self.prerequisites.items()}
        dependents: dict[str, list[str]] = {}
        for urn, deps in self.prerequisites.items():
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
        if len(order) != len(resources):
            stuck = sorted(r.name for r in resources if waiting[r.urn] > 0)
            raise ValueError(f"dependency cycle among: {', '.join(stuck)}")
        return order
