"""Questions tests ask of a captured program, answered by the review tools' plan model.

The type tokens are `resource_types`' (re-exported under the names the tests use).
"""

from __future__ import annotations

from collections import OrderedDict

from resource_types import (
    CONTAINER,
    PG_DATABASE,
    PG_DEFAULT_PRIVILEGES,
    PG_GRANT,
    PG_GRANT_ROLE,
    PG_ROLE,
    PG_SCHEMA,
    RANDOM_PASSWORD,
    VOLUME,
)
from review.capture.plan import Plan
from review.capture.program import Capture, Resource, unwrap_secrets

__all__ = [
    "CONTAINER",
    "DATABASE",
    "DEFAULT_PRIVILEGES",
    "GRANT",
    "GRANT_ROLE",
    "PASSWORD",
    "ROLE",
    "SCHEMA",
    "VOLUME",
    "ancestors",
    "env_of",
    "inputs",
    "plan_of",
    "server_of",
]

GRANT = PG_GRANT
DEFAULT_PRIVILEGES = PG_DEFAULT_PRIVILEGES
ROLE = PG_ROLE
SCHEMA = PG_SCHEMA
GRANT_ROLE = PG_GRANT_ROLE
DATABASE = PG_DATABASE
PASSWORD = RANDOM_PASSWORD

_PLANS: OrderedDict[int, Plan] = OrderedDict()
_KEPT_PLANS = 32


def plan_of(capture: Capture) -> Plan:
    """The plan of `capture`, built once for the captures a test session keeps asking about."""
    plan = _PLANS.get(id(capture))
    if plan is None or plan.capture is not capture:
        plan = _PLANS[id(capture)] = Plan(capture)
        while len(_PLANS) > _KEPT_PLANS:
            _PLANS.popitem(last=False)
    return plan


def server_of(capture: Capture, resource: Resource) -> str | None:
    """The server a database resource is on: the server component owning its provider."""
    return plan_of(capture).server_of(resource)


def inputs(resource: Resource) -> dict[str, object]:
    """Inputs with secret values unwrapped."""
    value = unwrap_secrets(resource.inputs)
    assert isinstance(value, dict)
    return value


def ancestors(capture: Capture, resource: Resource) -> set[str]:
    """Every resource this one transitively waits for (a dependency on a component covers its children)."""
    return plan_of(capture).waits_for(resource.urn)


def env_of(capture: Capture, service: str) -> dict[str, str]:
    """A service's env from the stack's `services` output (secrets unwrapped)."""
    services = unwrap_secrets(capture.outputs["services"])
    env: dict[str, str] = services[service]["env"]
    return env
