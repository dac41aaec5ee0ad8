"""The SDK's own floor: a capture's resources registered directly, with no topology or component code.

Same resources (type, name, parent, so the same URNs), same inputs as plain values (secrets unwrapped),
same explicit providers, same mocks and capturing monitor, same `run_pulumi_func` harness as
`review.capture.program.run_program`. Each resource is built through a one-line subclass, as provider SDK
classes and components are, so the SDK records a source stack trace for it as it does for the
program's resources (it only does so below a third `__init__` frame).

What the floor leaves out is everything our code adds on top of registering those resources: config
validation, the topology, component logic, input Outputs passed between resources, explicit
`depends_on` (unless `with_edges`), Output plumbing (env lists, DSNs) and the stack outputs.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from resource_types import PROVIDER_PREFIX
from review.capture.program import PROJECT, Capture, CapturingMonitor, FabricatingMocks, unwrap_secrets


@dataclass(frozen=True)
class FloorSpec:
    """One resource to register in the floor: what the capture recorded, inputs as plain values."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    provider: str | None
    props: dict[str, Any]
    depends_on: tuple[str, ...] = ()
    """The URNs the program's registration waited for (explicit and through inputs), provider aside."""


def floor_specs(capture: Capture) -> list[FloorSpec]:
    """The capture's resources in registration order (parents and providers come before their users)."""
    return [
        FloorSpec(
            urn=r.urn,
            type=r.type,
            name=r.name,
            custom=r.custom,
            parent=r.parent,
            provider=r.provider,
            props=dict(unwrap_secrets(r.inputs)),
            depends_on=tuple(urn for urn in r.depends_on if urn != r.provider),
        )
        for r in capture.resources
    ]


class _Custom(pulumi.CustomResource):
    def __init__(self, type_: str, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(type_, name, props, opts)


class _Provider(pulumi.ProviderResource):
    def __init__(self, package: str, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(package, name, props, opts)


class _Component(pulumi.ComponentResource):
    def __init__(self, type_: str, name: str, opts: pulumi.ResourceOptions) -> None:
        super().__init__(type_, name, None, opts)


def _register(specs: list[FloorSpec], with_edges: bool) -> None:
    made: dict[str, pulumi.Resource] = {}
    providers: dict[str, pulumi.ProviderResource] = {}
    components: list[_Component] = []
    for spec in specs:
        # Top-level resources name the stack as parent; the stack is not captured, so it stays implicit.
        parent = made.get(spec.parent) if spec.parent else None
        resource: pulumi.Resource
        if spec.type.startswith(PROVIDER_PREFIX):
            provider_resource = _Provider(
                spec.type[len(PROVIDER_PREFIX) :], spec.name, spec.props, pulumi.ResourceOptions(parent=parent)
            )
            providers[spec.urn] = provider_resource
            resource = provider_resource
        elif spec.custom:
            provider = providers.get(spec.provider) if spec.provider else None
            if spec.provider and provider is None:
                raise RuntimeError(f"floor: provider {spec.provider} of {spec.urn} was not registered before it")
            depends_on = [_registered(made, urn, spec) for urn in spec.depends_on] if with_edges else None
            resource = _Custom(
                spec.type,
                spec.name,
                spec.props,
                pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=depends_on),
            )
        else:
            component = _Component(spec.type, spec.name, pulumi.ResourceOptions(parent=parent))
            components.append(component)
            resource = component
        made[spec.urn] = resource
    # Components register their (empty) outputs, as every component of the program does.
    for component in components:
        component.register_outputs({})


def _registered(made: dict[str, pulumi.Resource], urn: str, spec: FloorSpec) -> pulumi.Resource:
    if urn not in made:
        raise RuntimeError(f"floor: {spec.urn} depends on {urn}, which was not registered before it")
    return made[urn]


def run_floor(specs: list[FloorSpec], stack: str, *, with_edges: bool = False) -> Capture:
    """Register `specs` directly under the same mocks and harness as `run_program`; return the capture.

    `with_edges` adds, as explicit `depends_on` between the custom resources, every dependency the
    program's registrations carried: the SDK's cost of the dependency graph itself, without our code.
    """
    asyncio.set_event_loop(asyncio.new_event_loop())
    settings.reset_options()
    pulumi.runtime.set_all_config({}, [])
    monitor = CapturingMonitor(FabricatingMocks())
    pulumi.runtime.set_mocks(FabricatingMocks(), project=PROJECT, stack=stack, preview=False, monitor=monitor)
    _sync_await(run_pulumi_func(lambda: _register(specs, with_edges)))
    return Capture(stack=stack, resources=monitor.captured, outputs={})


def check_same_resources(program: Capture, floor: Capture) -> None:
    """The floor registered exactly the program's resources (same URNs, so same types and counts)."""
    if Counter(r.type for r in program.resources) != Counter(r.type for r in floor.resources):
        raise RuntimeError("floor: type counts differ from the program's capture")
    missing = {r.urn for r in program.resources} ^ {r.urn for r in floor.resources}
    if missing:
        raise RuntimeError(f"floor: URNs differ from the program's capture, e.g. {sorted(missing)[:3]}")
