"""URNs and aliases as the mocks make them and as the Pulumi engine makes them.

The mocks qualify a resource's type with its parent's type only, and a root resource's with the
stack's (pulumi.runtime.mocks.MockMonitor.make_urn). The engine qualifies it with its parent's whole
qualified type, the stack's left out (pulumi/pulumi pkg/resource/deploy: Deployment.generateURN),
and gives each child an alias for each of its parent's aliases (`inheritedChildAlias`, the same
rule as the SDK's `pulumi.runtime.resource.inherited_child_alias`). A URN in `pulumi stack
--show-urns` is the engine's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from review.capture.program import Capture


@dataclass(frozen=True)
class Node:
    """A registered resource, as both URN schemes need it (URNs given as the mocks make them)."""

    urn: str
    type: str
    parent: str | None
    aliases: tuple[dict[str, Any], ...] = field(default=())

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[1]


def nodes_of(capture: Capture) -> list[Node]:
    return [Node(r.urn, r.type, r.parent, tuple(r.aliases)) for r in capture.resources]


def nodes_of_entries(entries: Iterable[dict[str, Any]]) -> list[Node]:
    return [Node(e["urn"], e["type"], e["parent"]) for e in entries]


def _make(prefix: str, parent_type: str, type_: str, name: str) -> str:
    return f"{prefix}{parent_type + '$' if parent_type else ''}{type_}::{name}"


def _prefix(urn: str) -> str:
    stack, project = urn.split("::")[0].removeprefix("urn:pulumi:"), urn.split("::")[1]
    return f"urn:pulumi:{stack}::{project}::"


def _qualified_type(urn: str) -> str:
    return urn.split("::")[2]


class MockUrns:
    """URNs and aliases as the mocks make them."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes

    def urn(self, node: Node) -> str:
        return node.urn

    def aliases(self, node: Node) -> set[str]:
        found = set()
        for alias in node.aliases:
            if "urn" in alias:
                found.add(alias["urn"])
                continue
            parent = self._root(node) if alias.get("noParent") else alias.get("parentUrn") or node.parent
            assert parent is not None, "a mocked resource has a parent (the stack at least)"
            parent_type = _qualified_type(parent).split("$")[-1]
            name = alias.get("name") or node.name
            found.add(_make(_prefix(node.urn), parent_type, alias.get("type") or node.type, name))
        return found

    def _root(self, node: Node) -> str:
        by_urn = {n.urn: n for n in self.nodes}
        while node.parent in by_urn:
            node = by_urn[node.parent]
        assert node.parent is not None, "a mocked resource's root is the stack"
        return node.parent


class EngineUrns:
    """URNs and aliases (with the inherited ones) as the Pulumi engine makes them."""

    def __init__(self, nodes: list[Node]) -> None:
        self.by_urn = {n.urn: n for n in nodes}
        self._urns: dict[str, str] = {}
        self._aliases: dict[str, set[str]] = {}

    def urn(self, node: Node) -> str:
        if node.urn not in self._urns:
            parent = self.by_urn.get(node.parent or "")
            parent_type = _qualified_type(self.urn(parent)) if parent else ""
            self._urns[node.urn] = _make(_prefix(node.urn), parent_type, node.type, node.name)
        return self._urns[node.urn]

    def aliases(self, node: Node) -> set[str]:
        if node.urn in self._aliases:
            return self._aliases[node.urn]
        parent = self.by_urn.get(node.parent or "")
        found = set()
        for alias in node.aliases:
            if "urn" in alias:
                found.add(alias["urn"])
                continue
            if alias.get("noParent"):
                parent_type = ""
            elif alias.get("parentUrn"):
                parent_type = _qualified_type(alias["parentUrn"])
            else:
                parent_type = _qualified_type(self.urn(parent)) if parent else ""
            name = alias.get("name") or node.name
            found.add(_make(_prefix(node.urn), parent_type, alias.get("type") or node.type, name))
        if parent is not None:
            for parent_alias in self.aliases(parent):
                name = node.name
                if name.startswith(parent.name):
                    name = parent_alias.rsplit("::", 1)[1] + name[len(parent.name) :]
                found.add(_make(_prefix(node.urn), _qualified_type(parent_alias), node.type, name))
        self._aliases[node.urn] = found
        return found
