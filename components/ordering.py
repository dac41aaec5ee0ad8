"""The order of what grants on one schema."""

from __future__ import annotations

from typing import TypeVar

import pulumi

R = TypeVar("R", bound=pulumi.Resource)


class SchemaGrants:
    """Everything that grants on one schema, in creation order: each waits for the previous one.

    The provider revokes everything for a key before it grants (resource_postgresql_grant.go:
    resourcePostgreSQLGrantCreateOrUpdate -> revokeRolePrivileges, grantRolePrivileges), and
    concurrent GRANTs on one schema can fail with `tuple concurrently updated`. The chain is the
    schema's: its own resources first, then the audit table, then each access group's grants and
    default privileges.
    """

    def __init__(self) -> None:
        self._chain: list[pulumi.Resource] = []

    def depends_on(self, *also: pulumi.Resource) -> list[pulumi.Resource]:
        """What the next resource on the schema waits for: the previous one, and `also`."""
        return [*self._chain[-1:], *also]

    def add(self, resource: R) -> R:
        """Append `resource` (registered with `depends_on()`) to the chain."""
        self._chain.append(resource)
        return resource

    @property
    def chain(self) -> tuple[pulumi.Resource, ...]:
        return tuple(self._chain)

    @property
    def last(self) -> pulumi.Resource:
        """The last resource on the schema: the schema is usable by every role of the matrix after it."""
        if not self._chain:
            raise ValueError("nothing is granted on the schema yet")
        return self._chain[-1]
