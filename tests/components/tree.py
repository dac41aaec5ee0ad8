"""The component tree of a captured program: parents, ancestors, descendants."""

from __future__ import annotations

from resource_types import COMPONENT_PREFIX
from review.capture.program import Capture, Resource


def ancestors(capture: Capture, resource: Resource) -> list[Resource]:
    """Its parent, the parent's parent, ... up to a root resource (the stack itself left out)."""
    by_urn = capture.by_urn()
    found = []
    while resource.parent in by_urn:
        resource = by_urn[resource.parent]
        found.append(resource)
    return found


def descendants(capture: Capture, root: Resource) -> list[Resource]:
    """Every resource under `root`, in registration order."""
    return [r for r in capture.resources if root in ancestors(capture, r)]


def roots(capture: Capture) -> list[Resource]:
    by_urn = capture.by_urn()
    return [r for r in capture.resources if r.parent not in by_urn]


def depth(capture: Capture) -> int:
    """Levels of the tree: 1 when every resource is a root."""
    return 1 + max(len(ancestors(capture, r)) for r in capture.resources)


def component(capture: Capture, type_name: str, name: str) -> Resource:
    """The component `engarde:index:<type_name>` named `name`."""
    (found,) = [r for r in capture.resources if r.type == f"{COMPONENT_PREFIX}:{type_name}" and r.name == name]
    return found
