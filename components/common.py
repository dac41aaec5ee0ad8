"""Small helpers shared by the components."""

from __future__ import annotations

import pulumi
import pulumi_random as random

from resource_types import COMPONENT_PREFIX

TYPE_PREFIX = COMPONENT_PREFIX
"""Every component's type is `<TYPE_PREFIX>:<Class>`."""

URL_SAFE_SPECIALS = "!#%&*()-_=+[]{}<>:?@/^~."
"""Specials for generated database passwords: URL-hostile on purpose (DSNs must encode them),
but no quotes, backslash or `$`, so a break-glass copy into a shell or psql stays simple."""


def secret_password(
    name: str, *, length: int, special: bool, parent: pulumi.Resource, protect: bool = False
) -> pulumi.Output[str]:
    """A generated password as a secret Output (mocks and old engines do not mark it themselves)."""
    password = random.RandomPassword(
        name,
        length=length,
        special=special,
        override_special=URL_SAFE_SPECIALS if special else None,
        min_upper=1,
        min_lower=1,
        min_numeric=1,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )
    return pulumi.Output.secret(password.result)


def secret_fernet_key(name: str, *, parent: pulumi.Resource) -> pulumi.Output[str]:
    """32 random bytes in url-safe base64 with padding (what `cryptography.fernet.Fernet` accepts),
    as a secret Output. RandomBytes' `base64` is the standard alphabet: `+` and `/` become `-`, `_`."""
    key = random.RandomBytes(name, length=32, opts=pulumi.ResourceOptions(parent=parent))
    return pulumi.Output.secret(key.base64.apply(lambda encoded: encoded.replace("+", "-").replace("/", "_")))


def secret_env(items: list[pulumi.Input[str]]) -> pulumi.Output[list[str]]:
    """A container's env list as one secret Output: it carries credentials."""
    combined: pulumi.Output[list[str]] = pulumi.Output.all(*items)
    return pulumi.Output.secret(combined)


def child(parent: pulumi.Resource, **kwargs: object) -> pulumi.ResourceOptions:
    """Options for a child resource: `parent=parent` plus anything given."""
    return pulumi.ResourceOptions(parent=parent, **kwargs)  # type: ignore[arg-type]


def moved_from_root(parent: pulumi.Resource) -> pulumi.ResourceOptions:
    """Options of a component once registered at the root of the stack, now under `parent`.

    The alias is its old URN; the engine derives its descendants' old URNs from it (their names
    and types are unchanged), so a deployed stack keeps every resource under it.
    """
    return pulumi.ResourceOptions(parent=parent, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)])


def moved_from(parent: pulumi.Resource, old_parent_type: str, old_parent_name: str) -> pulumi.ResourceOptions:
    """Options of a component once the child of a root component (`old_parent_type`, `old_parent_name`),
    now under `parent`; its old URN is its alias, as in `moved_from_root`."""
    old_parent = pulumi.create_urn(old_parent_name, old_parent_type)
    return pulumi.ResourceOptions(parent=parent, aliases=[pulumi.Alias(parent=old_parent)])
