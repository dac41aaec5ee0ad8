"""The SQL each step of a stack diff runs, on its server: the providers' create, update and delete
from `review.providers.lifecycle`, and which changed inputs make a provider replace rather than update.

A create (or the create of a replacement) runs in the context the new program leaves (`server_context`
of the new capture); an update and a delete in the context the deployed program left (the Role
update revokes the memberships the old state holds). Passwords are psql variables unless values
are asked for (only the tests apply SQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resource_types import CONTAINER, DYNAMIC_RESOURCE, NETWORK, RANDOM_BYTES, RANDOM_PASSWORD, VOLUME
from review.capture.plan import Plan
from review.capture.program import Resource, unwrap_secrets
from review.diff.compute import CREATE, CREATE_REPLACEMENT, IMPORT, UPDATE, StackDiff, Step
from review.providers import (
    SecretStyle,
    ServerContext,
    SqlStep,
    create_steps,
    delete_steps,
    has_update,
    inputs_of,
    replace_keys,
    runs_sql,
    server_context,
    update_steps,
)

_OTHER_REPLACE_KEYS: dict[str, frozenset[str]] = {
    # terraform-provider-random: every input of random_password is RequiresReplace.
    RANDOM_PASSWORD: frozenset(
        {"length", "special", "upper", "lower", "numeric", "overrideSpecial", "keepers"}
        | {"minSpecial", "minUpper", "minLower", "minNumeric"}
    ),
    RANDOM_BYTES: frozenset({"length", "keepers"}),
    # kreuzwerker/terraform-provider-docker (read at 83c00e0b), internal/provider/resource_docker_container.go:
    # of the inputs this program sets, the ForceNew ones (`healthcheck`, `restart`, `wait`, `waitTimeout` update).
    CONTAINER: frozenset({"command", "envs", "image", "name", "networksAdvanced", "ports", "volumes"}),
    NETWORK: frozenset({"driver", "name"}),
    VOLUME: frozenset({"name"}),
}


@dataclass(frozen=True)
class ServerSql:
    """The SQL one step runs on one server."""

    server: str
    steps: tuple[SqlStep, ...]


class ProviderLifecycle:
    """The pinned providers' diff and operations, as `review diff` models them."""

    def __init__(self, secrets: SecretStyle = SecretStyle.VARIABLES) -> None:
        self.secrets = secrets
        self._contexts: dict[tuple[Plan, str], ServerContext] = {}

    def context(self, plan: Plan, server: str) -> ServerContext:
        """The server's context as `plan` leaves it (built once per plan and server)."""
        key = (plan, server)
        if key not in self._contexts:
            self._contexts[key] = server_context(plan, server, self.secrets)
        return self._contexts[key]

    def inputs(self, resource: Resource) -> dict[str, Any]:
        if runs_sql(resource.type):
            return inputs_of(resource)
        return resource.inputs

    def diffed_inputs(self, old: Resource, new: Resource, changed: tuple[str, ...]) -> tuple[str, ...]:
        """Of the changed inputs, those the provider's diff reports: for the SQL script, its own
        provider's `diff` decides (components/sql_script.py), all or nothing."""
        if new.type != DYNAMIC_RESOURCE or not changed:
            return changed
        from components.sql_script import _SqlScriptProvider

        def plain(resource: Resource) -> dict[str, Any]:
            return {k: v for k, v in unwrap_secrets(resource.inputs).items() if not k.startswith("__")}

        return changed if _SqlScriptProvider().diff("", plain(old), plain(new)).changes else ()

    def replacing_inputs(self, type_: str, changed: tuple[str, ...]) -> tuple[str, ...]:
        """Of the changed inputs, those that make the provider replace the resource."""
        if runs_sql(type_):
            if not has_update(type_):
                return changed
            keys = replace_keys(type_)
        else:
            keys = _OTHER_REPLACE_KEYS.get(type_, frozenset())
        return tuple(key for key in changed if key in keys)

    def sql(self, step: Step, diff: StackDiff) -> ServerSql | None:
        """What `step` runs on its server, or None when it runs no SQL (components, passwords, containers)."""
        if step.op == IMPORT:
            return None
        creating = step.op in (CREATE, CREATE_REPLACEMENT)
        resource = step.new if creating or step.op == UPDATE else step.old
        assert resource is not None
        if not runs_sql(resource.type):
            return None
        # Create in the new program's context; update and delete where the deployed one left the server.
        plan = diff.new if creating else diff.old
        server = plan.server_of(resource)
        if server is None:
            return None
        context = self.context(plan, server)
        if creating:
            steps = create_steps(resource, context)
        elif step.op == UPDATE:
            assert step.old is not None
            steps = update_steps(step.old, resource, context)
        else:
            steps = delete_steps(resource, context)
        return ServerSql(server, tuple(steps)) if steps else None
