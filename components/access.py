"""Access groups: the grants and default privileges of one (schema, profile), held by a NOLOGIN role."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_postgresql as postgresql

from components.common import TYPE_PREFIX, child
from components.roles import DatabaseRole, DatabaseRoleArgs
from topology.model import PROFILE_PRIVILEGES, Role
from topology.model import AccessGroup as AccessGroupSpec


@dataclass
class AccessGroupArgs:
    """Inputs of an access group component."""

    group: AccessGroupSpec
    """The group as the topology describes it."""
    role: Role
    """The group's NOLOGIN role."""
    provider: postgresql.Provider
    """Provider of the schema's server."""


@dataclass
class AccessGrantsArgs:
    """Where an access group's grants go."""

    database: pulumi.Input[str]
    """Database of the schema."""
    schema: pulumi.Input[str]
    """Schema name (an Output of the schema, so the grants wait for it)."""
    creator: pulumi.Input[str]
    """Role whose future tables and sequences the default privileges cover."""
    after: pulumi.Resource | None = None
    """The previous grant on this schema: grants on one schema run one after another."""


class AccessGroup(pulumi.ComponentResource):
    """A group role with USAGE on the schema, the profile's privileges on its tables and sequences,
    and the same for objects its owner creates later.

    Built in two steps: the role first (its members name it in their own `roles`, so they must
    exist after it), then `grant` once the schema exists. Members are never added here with
    `postgresql.GrantRole`: the provider's Role update revokes every membership of the member and
    grants back only its `roles` (resource_postgresql_role.go: resourcePostgreSQLRoleUpdate ->
    revokeRoles, grantRoles), and its read puts the live memberships into `roles`, so a GrantRole
    on a managed login role is undone by the next password rotation and flips on every refresh.

    Each (role, database, schema, object type) has exactly one Grant and one DefaultPrivileges:
    the provider revokes everything for that key before it grants.
    """

    role_name: pulumi.Output[str]
    last: pulumi.Resource
    """The last grant touching the schema: the next grant on it is ordered after this one."""

    def __init__(self, name: str, args: AccessGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:AccessGroup", name, None, opts)
        self._name = name
        self._spec = args.group
        self._provider = args.provider
        role = DatabaseRole(name, DatabaseRoleArgs(role=args.role, provider=args.provider), opts=child(self))
        self.role_name = role.name

    def grant(self, args: AccessGrantsArgs) -> pulumi.Resource:
        """Register the grants and default privileges on the schema; returns the last one."""
        name = self._name
        privileges = PROFILE_PRIVILEGES[self._spec.profile]
        previous = args.after

        def ordered(resource_name: str, resource_type: type, **inputs: object) -> pulumi.Resource:
            nonlocal previous
            resource: pulumi.Resource = resource_type(
                f"{name}-{resource_name}",
                database=args.database,
                schema=args.schema,
                role=self.role_name,
                opts=child(self, provider=self._provider, depends_on=[previous] if previous else None),
                **inputs,
            )
            previous = resource
            return resource

        ordered("schema", postgresql.Grant, object_type="schema", privileges=list(privileges.schema))
        ordered("tables", postgresql.Grant, object_type="table", objects=[], privileges=list(privileges.tables))
        ordered(
            "sequences", postgresql.Grant, object_type="sequence", objects=[], privileges=list(privileges.sequences)
        )
        ordered(
            "default-tables",
            postgresql.DefaultPrivileges,
            owner=args.creator,
            object_type="table",
            privileges=list(privileges.tables),
        )
        ordered(
            "default-sequences",
            postgresql.DefaultPrivileges,
            owner=args.creator,
            object_type="sequence",
            privileges=list(privileges.sequences),
        )
        assert previous is not None
        self.last = previous
        self.register_outputs({"role": self.role_name})
        return previous
