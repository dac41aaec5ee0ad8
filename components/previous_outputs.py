"""What the program reads of its own stack: the outputs its last update left."""

from __future__ import annotations

import time

import pulumi

READ_ATTEMPTS = 5


def deployed_outputs() -> dict[str, object]:
    """The stack's outputs as its last update left them (none before the first), read through the engine's
    builtin stack reference before anything is registered: what the data volumes hold (topology/upgrades.py).

    The file backend may be rewriting the same checkpoint as the update starts (`failed to load checkpoint:
    EOF`, seen once in fifty runs): a failed read is tried again, and after the last attempt the update stops."""
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            result = pulumi.runtime.invoke("pulumi:pulumi:readStackOutputs", {"name": name})
            return dict(result.value.get("outputs") or {}) if result.value else {}
        except Exception as error:
            if attempt == READ_ATTEMPTS:
                message = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise pulumi.RunError(f"cannot read the stack's previous outputs: {message}") from None
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")
