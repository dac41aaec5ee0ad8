"""`pulumi refresh` offline: a deployed capture with what the providers' reads find on a live server.

Covers the reads that change what the next `pulumi up` does to this stack's roles:

* `postgresql.Role` (resource_postgresql_role.go `resourcePostgreSQLRoleReadImpl`): `roles` becomes
  every membership the role holds, whatever granted it; `searchPaths` the role's search_path
  setting (`readSearchPath`); attributes and connection limit from `pg_roles`. A role that is
  gone leaves the state (the next `up` creates it).
* `postgresql.GrantRole` (resource_postgresql_grant_role.go `resourcePostgreSQLGrantRoleRead`): a
  membership that is gone leaves the state.

Other resources keep their recorded state.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from review.capture import Capture, Resource
from review.graph import server_of

ROLE = "postgresql:index/role:Role"
GRANT_ROLE = "postgresql:index/grantRole:GrantRole"

_ROLE_QUERY = """
SELECT ARRAY(SELECT pg_catalog.pg_get_userbyid(roleid) FROM pg_catalog.pg_auth_members m WHERE m.member = r.oid),
       rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolconnlimit, rolconfig,
       rolreplication, rolbypassrls
  FROM pg_catalog.pg_roles r WHERE rolname = %s
"""
_FLAGS = ("superuser", "inherit", "createRole", "createDatabase", "login")


def _search_path(config: list[str] | None) -> list[str]:
    """resource_postgresql_role.go `readSearchPath`: the setting split on `, `, quotes trimmed."""
    for entry in config or []:
        if entry.startswith("search_path="):
            return [part.strip('"') for part in entry.removeprefix("search_path=").split(", ")]
    return []


def _read_role(connection: Any, resource: Resource) -> Resource | None:
    row = connection.execute(_ROLE_QUERY, (str(resource.inputs["name"]),)).fetchone()
    if row is None:
        return None
    roles, *flags, connection_limit, config, replication, bypass = row
    read = {
        **dict(zip(_FLAGS, flags, strict=True)),
        "connectionLimit": connection_limit,
        "replication": replication,
        "bypassRowLevelSecurity": bypass,
    }
    inputs = dict(resource.inputs)
    # Attributes the program leaves to the provider's defaults keep them (the read agrees with a default).
    inputs.update({key: value for key, value in read.items() if key in inputs})
    inputs["roles"] = sorted(roles)
    inputs["searchPaths"] = _search_path(config)
    return dataclasses.replace(resource, inputs=inputs)


def _membership_exists(connection: Any, resource: Resource) -> bool:
    row = connection.execute(
        "SELECT 1 FROM pg_catalog.pg_auth_members m"
        " JOIN pg_catalog.pg_roles g ON g.oid = m.roleid JOIN pg_catalog.pg_roles r ON r.oid = m.member"
        " WHERE g.rolname = %s AND r.rolname = %s",
        (str(resource.inputs["grantRole"]), str(resource.inputs["role"])),
    ).fetchone()
    return row is not None


def refreshed(capture: Capture, connections: dict[str, Any]) -> Capture:
    """`capture` (the deployed state) after a refresh against the servers in `connections` (name -> psycopg)."""
    resources: list[Resource] = []
    for resource in capture.resources:
        server = server_of(capture, resource)
        connection = connections.get(server) if server is not None else None
        if connection is not None and resource.type == ROLE:
            read = _read_role(connection, resource)
            if read is not None:
                resources.append(read)
            continue
        if connection is not None and resource.type == GRANT_ROLE and not _membership_exists(connection, resource):
            continue
        resources.append(resource)
    return dataclasses.replace(capture, resources=resources)
