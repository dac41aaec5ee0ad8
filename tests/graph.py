"""Questions tests ask of a captured program: which server a resource is on, what it waits for."""

from __future__ import annotations

from review.capture import Capture, Resource, unwrap_secrets
from review.lifecycle import PG_DATABASE, PG_DEFAULT_PRIVILEGES, PG_GRANT, PG_GRANT_ROLE, PG_ROLE, PG_SCHEMA

GRANT = PG_GRANT
DEFAULT_PRIVILEGES = PG_DEFAULT_PRIVILEGES
ROLE = PG_ROLE
SCHEMA = PG_SCHEMA
GRANT_ROLE = PG_GRANT_ROLE
DATABASE = PG_DATABASE

CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
PASSWORD = "random:index/randomPassword:RandomPassword"


def server_of(capture: Capture, resource: Resource) -> str:
    """The server a database resource is on: the name of the server component owning its provider."""
    by_urn = capture.by_urn()
    assert resource.provider, f"{resource.name} has no explicit provider"
    provider = by_urn[resource.provider]
    assert provider.parent is not None
    return by_urn[provider.parent].name


def inputs(resource: Resource) -> dict[str, object]:
    """Inputs with secret values unwrapped."""
    value = unwrap_secrets(resource.inputs)
    assert isinstance(value, dict)
    return value


def ancestors(capture: Capture, resource: Resource) -> set[str]:
    """Every URN this resource transitively waits for (a dependency on a component covers its children)."""
    by_urn = capture.by_urn()
    children: dict[str, list[str]] = {}
    for r in capture.resources:
        if r.parent:
            children.setdefault(r.parent, []).append(r.urn)
    seen: set[str] = set()
    stack = list(resource.depends_on)
    while stack:
        urn = stack.pop()
        if urn in seen or urn not in by_urn:
            continue
        seen.add(urn)
        stack.extend(by_urn[urn].depends_on)
        stack.extend(children.get(urn, []))
    return seen


def env_of(capture: Capture, service: str) -> dict[str, str]:
    """A service's env from the stack's `services` output (secrets unwrapped)."""
    services = unwrap_secrets(capture.outputs["services"])
    env: dict[str, str] = services[service]["env"]
    return env
