"""A deployed capture as `pulumi refresh` leaves it: each resource's state read back from the live
servers with the providers' reads (`review.providers.refresh.refreshed_inputs`). Diffing the program against
it is what `pulumi up --refresh` (or `pulumi preview --refresh --expect-no-changes`) decides."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from review.capture.plan import Plan
from review.capture.program import Capture, Resource
from review.providers import runs_sql, server_context
from review.providers.refresh import refreshed_inputs


def refreshed(plan: Plan, connections: Mapping[str, Any]) -> Capture:
    """The plan's capture after a refresh against `connections` (server name -> autocommit connection to the
    database its provider uses; servers without one keep their recorded state). A resource the
    read finds gone leaves the state."""
    contexts = {server: server_context(plan, server) for server in connections}
    resources: list[Resource] = []
    for resource in plan.resources:
        server = plan.server_of(resource) if runs_sql(resource.type) else None
        if server not in connections:
            resources.append(resource)
            continue
        assert server is not None
        inputs = refreshed_inputs(resource, connections[server], contexts[server])
        if inputs is not None:
            resources.append(dataclasses.replace(resource, inputs=inputs))
    return dataclasses.replace(plan.capture, resources=resources)
