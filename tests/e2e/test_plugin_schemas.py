"""The plugins the engine runs have the schema the Python SDKs were generated from, for what the
program uses: every resource type it registers, each input it sets, every input the SDK offers; and the
nested types below them (a container's ports, volumes, healthcheck...): each value the program nests, and
every property of each type the SDK offers, as an input and as an output.

The schema is the built plugin's own (`pulumi package get-schema <plugin>`); the SDK's side is each
resource class's constructor (`_internal_init`: one parameter per input, snake_case), its output properties,
and each nested type's classes (`<Type>Args` for inputs, `outputs.<Type>` for outputs: one constructor
parameter per property).
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import pytest

from review.capture.program import unwrap_secrets
from tests.conftest import ADMIN_PASSWORDS, capture
from tests.e2e.engine import bin_dir, require_toolchain

STACKS = {"dev": {}, "prod": ADMIN_PASSWORDS}
"""Containers and external servers: between them every resource type the program registers."""
PROVIDERS = ["random", "postgresql", "mysql", "docker"]
LOCAL_TYPE = "#/types/"
"""How a schema refers to one of its own object types (other references name pulumi.json's Archive, Asset...)."""


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


def used_resources(provider: str) -> dict[str, list[dict[str, Any]]]:
    """Resource type -> the inputs of each resource of it the program registers, over the dev configs."""
    used: dict[str, list[dict[str, Any]]] = {}
    for stack, overrides in STACKS.items():
        for resource in capture(stack, **overrides).resources:
            if resource.custom and resource.type.split(":")[0] == provider:
                inputs = {
                    key: value for key, value in unwrap_secrets(resource.inputs).items() if not key.startswith("__")
                }
                used.setdefault(resource.type, []).append(inputs)
    return used


def used_types(provider: str) -> dict[str, set[str]]:
    """Resource type -> the inputs the program sets on it, over the dev configs."""
    return {
        resource_type: {key for inputs in registered for key in inputs}
        for resource_type, registered in used_resources(provider).items()
    }


def camel_case(snake: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), snake)


def parameter_names(function: Any, *skipped: str) -> set[str]:
    """A generated SDK function's keyword parameters, camelCase as on the wire."""
    return {camel_case(p) for p in inspect.signature(function).parameters if p not in ("__self__", *skipped)}


def sdk_inputs(resource_type: str) -> set[str]:
    """The Python SDK's inputs of `resource_type`, camelCase as on the wire."""
    package, _module, name = resource_type.split(":")
    sdk = importlib.import_module(f"pulumi_{package}")
    return parameter_names(getattr(sdk, name)._internal_init, "resource_name", "opts", "__props__")


def sdk_outputs(resource_type: str) -> set[str]:
    """The Python SDK's outputs of `resource_type` (its class's properties), camelCase as on the wire."""
    package, _module, name = resource_type.split(":")
    resource_class = getattr(importlib.import_module(f"pulumi_{package}"), name)
    return {camel_case(attribute) for attribute, value in vars(resource_class).items() if isinstance(value, property)}


def sdk_type_properties(type_token: str, direction: str) -> set[str]:
    """The properties of the SDK's class for the nested type `type_token`: its `<Name>Args` ("input") or its
    `outputs.<Name>` ("output"), camelCase as on the wire."""
    package, _module, name = type_token.split(":")
    if direction == "input":
        type_class = getattr(importlib.import_module(f"pulumi_{package}"), f"{name}Args")
    else:
        type_class = getattr(importlib.import_module(f"pulumi_{package}.outputs"), name)
    return parameter_names(type_class.__init__)


def differences(sdk: set[str], plugin: set[str]) -> str:
    return f"only the SDK has {sorted(sdk - plugin)}, only the plugin {sorted(plugin - sdk)}"


def referenced_types(spec: Mapping[str, Any]) -> Iterator[str]:
    """The schema's own object types a property spec names: directly, as list items or as map values."""
    reference = spec.get("$ref", "")
    if reference.startswith(LOCAL_TYPE):
        yield reference.removeprefix(LOCAL_TYPE)
    for inner in ("items", "additionalProperties"):
        if isinstance(spec.get(inner), Mapping):
            yield from referenced_types(spec[inner])


def reachable_types(types: Mapping[str, Any], properties: Mapping[str, Any]) -> set[str]:
    """Every object type below `properties`, however deep."""
    found: set[str] = set()
    pending = [token for spec in properties.values() for token in referenced_types(spec)]
    while pending:
        token = pending.pop()
        if token in found or types.get(token, {}).get("type") != "object":
            continue
        found.add(token)
        pending += [token for spec in types[token].get("properties", {}).values() for token in referenced_types(spec)]
    return found


def check_value(types: Mapping[str, Any], spec: Mapping[str, Any], value: Any, where: str) -> Iterator[str]:
    """Each nested object of a value the program sets against the schema: its shape (object or list, as the
    schema has it), no property the plugin lacks, none the plugin requires left out."""
    reference = spec.get("$ref", "")
    if reference.startswith(LOCAL_TYPE) and types.get(reference.removeprefix(LOCAL_TYPE), {}).get("type") == "object":
        token = reference.removeprefix(LOCAL_TYPE)
        assert isinstance(value, dict), f"{where}: the program sets {type(value).__name__}, the plugin takes a {token}"
        yield token
        properties = types[token].get("properties", {})
        assert set(value) <= set(properties), (
            f"{where} ({token}): the plugin lacks {sorted(set(value) - set(properties))}"
        )
        required = set(types[token].get("required", []))
        assert required <= set(value), (
            f"{where} ({token}): the program leaves out required {sorted(required - set(value))}"
        )
        for key, inner in value.items():
            yield from check_value(types, properties[key], inner, f"{where}.{key}")
    elif spec.get("type") == "array" and isinstance(spec.get("items"), Mapping):
        assert isinstance(value, list), f"{where}: the program sets {type(value).__name__}, the plugin takes a list"
        for index, item in enumerate(value):
            yield from check_value(types, spec["items"], item, f"{where}[{index}]")
    elif isinstance(spec.get("additionalProperties"), Mapping) and isinstance(value, dict):
        for key, item in value.items():
            yield from check_value(types, spec["additionalProperties"], item, f"{where}.{key}")


@pytest.mark.parametrize("provider", PROVIDERS)
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
        outputs, plugin_outputs = sdk_outputs(resource_type), set(resources[resource_type].get("properties", {}))
        assert outputs == plugin_outputs, f"{resource_type} outputs: {differences(outputs, plugin_outputs)}"


@pytest.mark.parametrize("provider", ["docker"])
def test_the_plugin_schema_matches_the_sdk_for_every_nested_type_the_program_uses(provider: str) -> None:
    """Only docker's resources take nested types among those the program registers (ports, volumes,
    networks, uploads and a healthcheck on a container; a network's IPAM configs, which it reads)."""
    schema = schema_of(provider)
    resources, types = schema["resources"], schema["types"]
    nested: set[str] = set()
    for resource_type, registered in sorted(used_resources(provider).items()):
        spec = resources[resource_type]
        for index, inputs in enumerate(registered):
            for key, value in inputs.items():
                where = f"{resource_type}[{index}].{key}"
                nested.update(check_value(types, spec["inputProperties"].get(key, {}), value, where))
        for direction, properties in (
            ("input", spec.get("inputProperties", {})),
            ("output", spec.get("properties", {})),
        ):
            for token in sorted(reachable_types(types, properties)):
                sdk, plugin = sdk_type_properties(token, direction), set(types[token].get("properties", {}))
                assert sdk == plugin, f"{token} as an {direction}: {differences(sdk, plugin)}"
    assert nested, f"the program sets no nested {provider} type"
