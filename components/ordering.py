"""The order of what grants on a server.

The rule: every Grant, DefaultPrivileges, schema and audit-table script of one server runs after the previous
one, in one chain per server, whatever the admin. Two reasons, both from the provider's source:

* its Grant and DefaultPrivileges revoke everything for their key before granting
  (resource_postgresql_grant.go: resourcePostgreSQLGrantCreateOrUpdate -> revokeRolePrivileges,
  grantRolePrivileges), and concurrent GRANTs on one schema can fail with `tuple concurrently updated`;
* each takes `pgLockRole` (helpers.go): an advisory lock on the role, then on each of its members. Readers
  such as `analytics_readonly` and `audit_user` are members of several groups, and a CREATEROLE admin is a
  member of every role it made, so two grants running at once can take the same locks in opposite orders:
  `40P01 could not get advisory lock for members of role ...`, seen through the real engine with a
  managed admin and with a superuser one (dev, on the real Docker engine). Per-schema chains only made it
  rarer; with one chain per server no two of these ever hold locks at once, so no order can invert.

Roles, containers and everything else still run in parallel around the chain.
"""

from __future__ import annotations

from typing import TypeVar

import pulumi

R = TypeVar("R", bound=pulumi.Resource)


class SchemaGrants:
    """Everything that grants on a server, in creation order: each waits for the previous one (the rule
    above). Each schema's part of it: its own resources first, then the audit table, then each access
    group's grants and default privileges."""

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
