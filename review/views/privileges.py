"""The privileges a captured stack grants, read back from its `Grant` and `DefaultPrivileges` inputs
as the topology's own record (`topology.model.Privilege`): what the plan shows, and what the tests
compare with the privileges the topology wants."""

from __future__ import annotations

from resource_types import PG_DEFAULT_PRIVILEGES, PG_GRANT
from review.capture.plan import Plan
from review.capture.program import Resource, unwrap_secrets
from topology.model import ObjectType, Privilege, PrivilegeSet

OBJECT_TYPES = {t.value: t for t in ObjectType}


def privilege_set_of(plan: Plan, resource: Resource) -> PrivilegeSet | None:
    """What one Grant or DefaultPrivileges holds; None for any other resource, and for grant shapes
    the layout does not use (on a database, on listed objects, on functions or types)."""
    if resource.type not in (PG_GRANT, PG_DEFAULT_PRIVILEGES):
        return None
    inputs = unwrap_secrets(resource.inputs)
    object_type = OBJECT_TYPES.get(str(inputs.get("objectType")))
    server = plan.server_of(resource)
    if object_type is None or server is None or inputs.get("objects"):
        return None
    default_for = str(inputs["owner"]) if resource.type == PG_DEFAULT_PRIVILEGES else None
    return PrivilegeSet(
        server=server,
        database=str(inputs["database"]),
        schema=str(inputs["schema"]),
        object_type=object_type,
        grantee=str(inputs["role"]),
        default_for=default_for,
        privileges=tuple(sorted(str(p) for p in inputs.get("privileges") or [])),
    )


def privileges(plan: Plan) -> list[Privilege]:
    """Every privilege the stack grants, one record each, in creation order."""
    records = []
    for resource in plan.canonical_order:
        held = privilege_set_of(plan, resource)
        if held is None:
            continue
        records += [
            Privilege(held.server, held.database, held.schema, held.object_type, held.grantee, name, held.default_for)
            for name in held.privileges
        ]
    return records
