"""What a second `pulumi up` does: the steps between two captures of the stack, in engine order.

Follows the step generation of Pulumi's engine (pulumi/pulumi `pkg/resource/deploy/step_generator.go`,
`GenerateSteps` / `generateStepsFromDiff` and `GenerateDeletes`):

* The new program's resources, in its dependency order: a resource absent from the old run is
  **created** (or **imported**, with the `import` option: nothing runs); one whose inputs differ
  (less its `ignore_changes`) is **updated**, or **replaced** when a changed input is one the
  provider cannot update in place (ForceNew) or its URN is a `--replace` target.
* A replacement creates the new resource first and deletes the old one with the deletions at the
  end (create-before-delete), unless the provider asks to delete first: the bridged postgresql
  `Grant` always (pulumi-postgresql `provider/resources.go`, `DeleteBeforeReplace: true`), and every
  bridged resource whose `name` is given rather than auto-named (pulumi-terraform-bridge
  `nameRequiresDeleteBeforeReplace`, enabled by `SetAutonaming`): then the old one is deleted
  right before its replacement is created.
* Deletions last: the old run's resources the new one no longer registers, and the replaced ones
  left to delete, in reverse dependency order of the old program.
* `protect`: deleting a protected resource fails (`DeleteStep.Apply`), and so does replacing one
  that is protected in both runs (`generateStepsFromDiff`); each such step is an error of the diff.

Which inputs force a replacement is the lifecycle model's answer (`Lifecycle.replacing_inputs`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from resource_types import MYSQL_GRANT, PG_DEFAULT_PRIVILEGES, PG_GRANT, PG_ROLE
from review.capture.plan import Plan
from review.capture.program import Resource, unwrap_secrets

CREATE = "create"
IMPORT = "import"
UPDATE = "update"
CREATE_REPLACEMENT = "create-replacement"
DELETE_REPLACED = "delete-replaced"
DELETE = "delete"

REPLACE_TARGET = "--replace"
"""What `Step.replace_keys` holds for a resource replaced because it was named with `--replace`."""

_DELETE_BEFORE_REPLACE_TYPES = frozenset({PG_GRANT})
_AUTONAMED_PACKAGES = ("postgresql:", "mysql:", "docker:")


class Lifecycle(Protocol):
    """What a resource type's provider makes of changed inputs."""

    def inputs(self, resource: Resource) -> dict[str, Any]:
        """The resource's inputs as the provider sees them (its schema's defaults filled in)."""
        ...

    def diffed_inputs(self, old: Resource, new: Resource, changed: tuple[str, ...]) -> tuple[str, ...]:
        """Of the inputs that differ, those the provider's diff reports as changes."""
        ...

    def replacing_inputs(self, type_: str, changed: tuple[str, ...]) -> tuple[str, ...]:
        """Of the changed inputs (wire names), those that make the provider replace the resource."""
        ...


@dataclass(frozen=True)
class Step:
    """One operation of the engine on one resource."""

    op: str
    """`create`, `update`, `create-replacement`, `delete-replaced` or `delete`."""
    urn: str
    type: str
    name: str
    custom: bool
    changed: tuple[str, ...] = ()
    """Inputs whose value differs between the runs (updates and replacements), sorted."""
    replace_keys: tuple[str, ...] = ()
    """Of `changed`, those that force the replacement; `--replace` for a targeted replacement."""
    old: Resource | None = None
    new: Resource | None = None


@dataclass
class StackDiff:
    """The steps from `old` to `new`, in the order the engine runs them, and what makes it fail."""

    old: Plan
    new: Plan
    steps: list[Step] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """One line per step `pulumi up` refuses (a protected resource deleted or replaced)."""

    @property
    def changed(self) -> bool:
        return bool(self.steps)


_SET_INPUTS = {
    # TypeSet in the provider's schema: order does not matter.
    PG_ROLE: frozenset({"roles"}),
    PG_GRANT: frozenset({"privileges", "objects", "columns"}),
    PG_DEFAULT_PRIVILEGES: frozenset({"privileges"}),
    MYSQL_GRANT: frozenset({"privileges", "roles"}),
}


def _input(type_: str, inputs: dict[str, Any], key: str) -> Any:
    """An input as the provider compares it: an unset list is an empty one; a set is sorted."""
    value = _comparable(inputs.get(key))
    if value is None or value == []:
        return []
    if key in _SET_INPUTS.get(type_, ()) and isinstance(value, list):
        return sorted(value, key=str)
    return value


def _comparable(value: Any) -> Any:
    """Secrets by value, integral floats as ints (wire numbers)."""
    plain = unwrap_secrets(value)
    if isinstance(plain, float) and plain.is_integer():
        return int(plain)
    if isinstance(plain, dict):
        return {key: _comparable(item) for key, item in plain.items()}
    if isinstance(plain, list):
        return [_comparable(item) for item in plain]
    return plain


def changed_inputs(old: dict[str, Any], new: dict[str, Any], type_: str) -> tuple[str, ...]:
    """Inputs that differ, ignoring the SDK's internal ones (`__provider` of a dynamic resource:
    its serialized code, which the dynamic provider does not diff)."""
    keys = {key for key in (*old, *new) if not key.startswith("__")}
    return tuple(sorted(key for key in keys if _input(type_, old, key) != _input(type_, new, key)))


def deletes_before_replacing(resource: Resource) -> bool:
    """Whether the provider deletes the old resource before creating its replacement."""
    if resource.type in _DELETE_BEFORE_REPLACE_TYPES:
        return True
    return resource.type.startswith(_AUTONAMED_PACKAGES) and bool(resource.inputs.get("name"))


def _protected_delete(resource: Resource) -> str:
    return (
        f'unable to delete resource "{resource.urn}" as it is currently marked for protection '
        f"(pulumi state unprotect, or drop `protect` in the program first)"
    )


def _protected_replace(resource: Resource) -> str:
    return (
        f'unable to replace resource "{resource.urn}" as it is currently marked for protection '
        f"(remove `protect` in the program and run `pulumi up` first)"
    )


def diff_captures(old: Plan, new: Plan, lifecycle: Lifecycle, replace: Collection[str] = ()) -> StackDiff:
    """The engine's steps from the deployed `old` run to the `new` one (`replace`: `--replace` URNs)."""
    result = StackDiff(old, new)
    olds = old.by_urn()
    # A resource whose alias names an old URN is that resource, moved: the engine keeps its identity.
    moved: dict[str, str] = {}
    for resource in new.resources:
        if resource.urn not in olds:
            claimed = next((alias for alias in new.alias_urns(resource) if alias in olds), None)
            if claimed is not None:
                moved[resource.urn] = claimed
    condemned: list[Resource] = []
    for resource in new.creation_order:
        previous = olds.get(moved.get(resource.urn, resource.urn))
        if previous is None:
            # A resource with an import ID adopts an existing object: the engine reads it, runs nothing.
            adopted = resource.custom and getattr(resource, "import_id", None)
            result.steps.append(_step(IMPORT if adopted else CREATE, resource, new=resource))
            continue
        changed: tuple[str, ...] = ()
        if resource.custom:
            differing = changed_inputs(lifecycle.inputs(previous), lifecycle.inputs(resource), resource.type)
            ignored = set(getattr(resource, "ignore_changes", ()) or ())  # the `ignore_changes` option
            changed = lifecycle.diffed_inputs(previous, resource, tuple(key for key in differing if key not in ignored))
        forced = lifecycle.replacing_inputs(resource.type, changed)
        if resource.custom and resource.urn in replace:
            forced = (REPLACE_TARGET,)
        if forced:
            if previous.protect and resource.protect:
                result.errors.append(_protected_replace(resource))
            if deletes_before_replacing(resource):
                result.steps.append(_step(DELETE_REPLACED, previous, changed, forced, previous, resource))
            else:
                condemned.append(previous)
            result.steps.append(_step(CREATE_REPLACEMENT, resource, changed, forced, previous, resource))
        elif changed:
            result.steps.append(_step(UPDATE, resource, changed, (), previous, resource))
    registered = {resource.urn for resource in new.resources} | set(moved.values())
    condemned_urns = {resource.urn for resource in condemned}
    for resource in reversed(old.creation_order):
        if resource.urn in condemned_urns:
            result.steps.append(_step(DELETE_REPLACED, resource, old=resource))
        elif resource.urn not in registered:
            if resource.protect:
                result.errors.append(_protected_delete(resource))
            result.steps.append(_step(DELETE, resource, old=resource))
    return result


def _step(
    op: str,
    resource: Resource,
    changed: tuple[str, ...] = (),
    forced: tuple[str, ...] = (),
    old: Resource | None = None,
    new: Resource | None = None,
) -> Step:
    return Step(op, resource.urn, resource.type, resource.name, resource.custom, changed, forced, old, new)
