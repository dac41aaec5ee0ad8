"""Access groups: the grants and default privileges of one (schema, profile), held by a NOLOGIN role."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_postgresql as postgresql

from components.common import TYPE_PREFIX, child
from components.ordering import SchemaGrants
from topology.model import AccessGroup as AccessGroupSpec
from topology.model import ObjectType, PrivilegeSet, privilege_sets


@dataclass
class AccessGroupArgs:
    """Inputs of an access group component."""

    group: AccessGroupSpec
    """The group as the topology describes it."""
    role: pulumi.Input[str]
    """Name of the group's NOLOGIN role (an Output of the role, so the grants wait for it)."""
    creator: pulumi.Input[str]
    """Role whose future tables and sequences the default privileges cover (an Output of the role)."""
    database: pulumi.Input[str]
    """Database of the schema."""
    schema: pulumi.Input[str]
    """Schema name (an Output of the schema, so the grants wait for it)."""
    grants: SchemaGrants
    """The schema's grants: each of this group's resources joins their chain."""
    provider: postgresql.Provider
    """Provider of the schema's server."""


def privilege_resource(
    name: str,
    privileges: PrivilegeSet,
    *,
    database: pulumi.Input[str],
    schema: pulumi.Input[str],
    role: pulumi.Input[str],
    owner: pulumi.Input[str] | None,
    opts: pulumi.ResourceOptions,
) -> pulumi.CustomResource:
    """The provider resource holding one `PrivilegeSet`: a DefaultPrivileges FOR ROLE `owner`, or a Grant.

    `role` and `owner` are the set's grantee and `default_for`, given as Outputs of their roles so
    the resource waits for them.
    """
    object_type = privileges.object_type.value
    names = list(privileges.privileges)
    resource: pulumi.CustomResource
    if privileges.default_for is not None:
        resource = postgresql.DefaultPrivileges(
            name,
            database=database,
            schema=schema,
            role=role,
            owner=owner,
            object_type=object_type,
            privileges=names,
            opts=opts,
        )
        return resource
    resource = postgresql.Grant(
        name,
        database=database,
        schema=schema,
        role=role,
        object_type=object_type,
        # `[]`: every table or sequence of the schema (resource_postgresql_grant.go: createGrantQuery).
        objects=None if privileges.object_type is ObjectType.SCHEMA else [],
        privileges=names,
        opts=opts,
    )
    return resource


class AccessGroup(pulumi.ComponentResource):
    """A group role's USAGE on the schema, the profile's privileges on its tables and sequences,
    and the same for objects its owner creates later.

    The role itself is one of its server's roles (its members name it in their own `roles`, so they
    are created after it). Members are never added here with `postgresql.GrantRole`: the
    provider's Role update revokes every membership of the member and grants back only its `roles`
    (resource_postgresql_role.go: resourcePostgreSQLRoleUpdate -> revokeRoles, grantRoles), and its
    read puts the live memberships into `roles`, so a GrantRole on a managed login role is undone by
    the next password rotation and flips on every refresh.

    Each (role, database, schema, object type) has exactly one Grant and one DefaultPrivileges:
    the provider revokes everything for that key before it grants.
    """

    def __init__(self, name: str, args: AccessGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:AccessGroup", name, None, opts)
        for privileges in privilege_sets(args.group.privileges):
            args.grants.add(
                privilege_resource(
                    f"{name}-{privileges.resource_suffix}",
                    privileges,
                    database=args.database,
                    schema=args.schema,
                    role=args.role,
                    owner=args.creator,
                    opts=child(self, provider=args.provider, depends_on=args.grants.depends_on()),
                )
            )
        self.register_outputs({"role": args.role})
