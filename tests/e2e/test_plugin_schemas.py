"""The plugins the engine runs have the schema the Python SDKs were generated from, for what the
program uses: every resource type it registers, each input it sets, every input the SDK offers.

The schema is the built plugin's own (`pulumi package get-schema <plugin>`); the SDK's side is each
resource class's constructor (`_internal_init`: one parameter per input, snake_case).
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
from functools import cache
from typing import Any

import pytest

from review.capture.program import unwrap_secrets
from tests.conftest import ADMIN_PASSWORDS, capture
from tests.e2e.engine import bin_dir, require_toolchain

STACKS = {"dev": {}, "prod": ADMIN_PASSWORDS}
"""Containers and external servers: between them every resource type the program registers."""


@cache
def schema_of(provider: str) -> dict[str, Any]:
    tools = require_toolchain(provider)
    completed = subprocess.run(
        [str(tools / "pulumi"), "package", "get-schema", str(bin_dir() / f"pulumi-resource-{provider}")],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": str(tools), "PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_HOME": str(tools.parent / "home")},
    )
    schema: dict[str, Any] = json.loads(completed.stdout)
    return schema


def used_types(provider: str) -> dict[str, set[str]]:
    """Resource type -> the inputs the program sets on it, over the dev configs."""
    used: dict[str, set[str]] = {}
    for stack, overrides in STACKS.items():
        for resource in capture(stack, **overrides).resources:
            if resource.custom and resource.type.split(":")[0] == provider:
                keys = {key for key in unwrap_secrets(resource.inputs) if not key.startswith("__")}
                used.setdefault(resource.type, set()).update(keys)
    return used


def sdk_inputs(resource_type: str) -> set[str]:
    """The Python SDK's inputs of `resource_type`, camelCase as on the wire."""
    package, _module, name = resource_type.split(":")
    sdk = importlib.import_module(f"pulumi_{package}")
    parameters = inspect.signature(getattr(sdk, name)._internal_init).parameters
    names = [p for p in parameters if p not in ("__self__", "resource_name", "opts", "__props__")]
    return {re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), p) for p in names}


@pytest.mark.parametrize("provider", ["random", "postgresql", "mysql"])
def test_the_plugin_schema_matches_the_sdk_for_every_resource_the_program_uses(provider: str) -> None:
    resources = schema_of(provider)["resources"]
    used = used_types(provider)
    assert used, f"the program registers no {provider} resource"
    for resource_type, inputs in sorted(used.items()):
        assert resource_type in resources, f"{resource_type}: not in the built plugin"
        plugin_inputs = set(resources[resource_type].get("inputProperties", {}))
        assert inputs <= plugin_inputs, f"{resource_type}: the plugin lacks {sorted(inputs - plugin_inputs)}"
        assert sdk_inputs(resource_type) == plugin_inputs, resource_type
        required = set(resources[resource_type].get("requiredInputs", []))
        assert required <= inputs, f"{resource_type}: the program leaves out required {sorted(required - inputs)}"
