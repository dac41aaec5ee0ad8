"""The SQL each database resource runs on create, update and delete, as the pinned providers run it.

A model of the providers, not of an ideal: a `CREATE ROLE` of a role that exists fails here as it
fails in `pulumi up`; a role update revokes every membership the role holds and grants back only
its `roles`; a schema drop is RESTRICT unless `dropCascade`. Each statement builder names the
upstream file and function it follows:

* `postgresql:*` -- cyrilgdn/terraform-provider-postgresql at ff936b9 (v1.26.0+3, bridged by
  pulumi-postgresql 3.18), `postgresql/resource_postgresql_*.go` and `postgresql/helpers.go`.
* `mysql:*` -- hashicorp/terraform-provider-mysql v1.9.0 (bridged by pulumi-mysql 3.3),
  `mysql/resource_*.go`.
* `pulumi-python:dynamic:Resource` -- `components/sql_script.py` (the program's own provider).

What the model leaves out, on purpose: the providers' SELECTs: the catalog reads each operation
makes and ends with (`review.providers.refresh` models the reads), and the advisory locks of `pgLockRole` /
`pgLockDatabase` in helpers.go (`SELECT pg_advisory_xact_lock(...)`: they serialize concurrent
provider runs, last until the transaction ends and change no catalog). The `SET statement_timeout
= 0` those helpers run first is rendered: it is a statement of the transaction. The end-to-end tests
(tests/e2e) hold the model to the statements real providers send, read from the servers' logs.

Where a provider decides from live state (who owns the tables of a schema, which memberships a
role holds, whether the admin is already a member of an owner, whether a schema exists), the model
takes that state from a `ServerContext`; `server_context` derives it from a captured
stack (the state that stack leaves behind), callers with a live server can pass what they read.

Each resource family's statements are a module of this package (`postgresql.roles`,
`postgresql.grants`, `postgresql.databases`, `postgresql.replication`, `postgresql.fdw`, `mysql`,
`sql_script`: its `KNOWN_INPUTS` and `LIFECYCLES`), on the shared pieces of `core` and
`postgresql.helpers`; this module merges their tables and holds the API.

Inputs are the wire inputs of a captured `Resource` (camelCase, secrets wrapped in `Secret`). An
input the model does not know, or a value it has no SQL for, raises `UnsupportedResourceError`
naming the resource and the input: nothing is rendered that the provider would not run.

The API: `server_context(plan, server)`, then `create_steps(resource, ctx)`,
`update_steps(old, new, ctx)` (only where `has_update(type)` and no input in `replace_keys(type)`
changed; a replacement is a create plus a delete, in the order the engine runs them) and
`delete_steps(resource, ctx)`, each a list of `SqlStep`. `review.providers.refresh` models the reads;
`review.views.sql.render_steps` turns steps into psql script lines.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from resource_types import (
    DYNAMIC_RESOURCE,
    MYSQL_PREFIX,
    MYSQL_PROVIDER,
    PG_DATABASE,
    PG_GRANT_ROLE,
    PG_ROLE,
    PG_SCHEMA,
    POSTGRES_PROVIDER,
    POSTGRESQL_PREFIX,
)
from review.capture.plan import Plan, short_type
from review.capture.program import Resource, Secret, unwrap_secrets
from review.providers import mysql, sql_script
from review.providers.core import (
    REQUIRED,
    Lifecycle,
    SecretStyle,
    ServerContext,
    SqlStep,
    UnsupportedResourceError,
    password_input,
    set_order,
)
from review.providers.postgresql import databases, fdw, grants, replication, roles

_FAMILIES = (
    roles,
    grants,
    databases,
    replication,
    fdw,
    mysql,
    sql_script,
)

_KNOWN_INPUTS: dict[str, dict[str, Any]] = {k: v for f in _FAMILIES for k, v in getattr(f, "KNOWN_INPUTS", {}).items()}


_LIFECYCLES: dict[str, Lifecycle] = {k: v for f in _FAMILIES for k, v in f.LIFECYCLES.items()}


def inputs_of(resource: Resource) -> dict[str, Any]:
    """The resource's inputs with the provider's defaults filled in; secrets stay `Secret`.

    Raises `UnsupportedResourceError` on an input the model does not know or a required one missing.
    """
    if resource.type == DYNAMIC_RESOURCE:
        inputs = {key: value for key, value in resource.inputs.items() if not key.startswith("__")}
        for key in ("sql", "database"):
            if key not in inputs:
                raise UnsupportedResourceError(f"{resource.name}: a SQL script without `{key}`")
        return inputs
    known = _KNOWN_INPUTS.get(resource.type)
    if known is None:
        raise UnsupportedResourceError(f"{resource.name}: no SQL model for {resource.type}")
    inputs = {}
    for key, value in resource.inputs.items():
        if key.startswith("__"):
            continue
        if key not in known:
            raise UnsupportedResourceError(
                f"{resource.name}: input `{key}` of {short_type(resource.type)} is not modelled"
            )
        inputs[key] = value
    for key, default in known.items():
        if inputs.get(key) is None:
            if default is REQUIRED:
                raise UnsupportedResourceError(f"{resource.name}: input `{key}` is required")
            inputs[key] = default
    return inputs


def _lifecycle(resource_type: str) -> Lifecycle:
    lifecycle = _LIFECYCLES.get(resource_type)
    if lifecycle is None:
        raise UnsupportedResourceError(f"no SQL model for {resource_type}")
    return lifecycle


def runs_sql(resource_type: str) -> bool:
    """Whether resources of this type run SQL: every postgresql/mysql resource and the SQL script.
    (A type among those without a model here raises `UnsupportedResourceError` when asked for.)"""
    return resource_type.startswith((POSTGRESQL_PREFIX, MYSQL_PREFIX)) or resource_type == DYNAMIC_RESOURCE


def replace_keys(resource_type: str) -> frozenset[str]:
    """The inputs whose change replaces the resource (ForceNew upstream), in wire names.

    For the dynamic SQL script, its provider's `diff` decides (components/sql_script.py).
    """
    return _lifecycle(resource_type).replace_keys


def has_update(resource_type: str) -> bool:
    """False where the provider has no Update: any change is a replacement."""
    return _lifecycle(resource_type).update is not None


def _step(
    resource: Resource, inputs: dict[str, Any], ctx: ServerContext, statements: list[str], operation: str
) -> list[SqlStep]:
    if not statements:
        return []
    lifecycle = _lifecycle(resource.type)
    database = lifecycle.database(resource, inputs, ctx) if ctx.engine == "postgresql" else None
    label = f"{short_type(resource.type)} {resource.name}"
    transaction = lifecycle.transaction
    if operation == "delete" and lifecycle.delete_transaction is not None:
        transaction = lifecycle.delete_transaction
    return [SqlStep(label, resource.urn, database, tuple(statements), transaction, operation)]


def create_steps(resource: Resource, ctx: ServerContext) -> list[SqlStep]:
    """What the provider runs to create `resource` (empty for resources that run no SQL).

    No existence checks beyond the provider's own: a role, database or user that exists makes it fail.
    An imported resource (`import_` option) runs no SQL: the engine reads the existing object.
    """
    if not runs_sql(resource.type) or resource.import_id:
        return []
    inputs = inputs_of(resource)
    return _step(resource, inputs, ctx, _lifecycle(resource.type).create(resource, inputs, ctx), "create")


def update_steps(old: Resource, new: Resource, ctx: ServerContext) -> list[SqlStep]:
    """What the provider's Update runs to take `old` (deployed inputs) to `new`.

    Only for a change without replacement (see `replace_keys`); empty when the provider runs
    nothing for it. `ctx` describes the server as `old` left it (Role updates revoke
    `ctx.memberships`). Raises `UnsupportedResourceError` for a type without Update.
    """
    if not runs_sql(new.type):
        return []
    lifecycle = _lifecycle(new.type)
    if lifecycle.update is None:
        raise UnsupportedResourceError(f"{new.name}: {short_type(new.type)} has no update; a change replaces it")
    before, after = inputs_of(old), inputs_of(new)
    return _step(new, after, ctx, lifecycle.update(new, before, after, ctx), "update")


def delete_steps(resource: Resource, ctx: ServerContext) -> list[SqlStep]:
    """What the provider runs to delete `resource` (its inputs as deployed)."""
    if not runs_sql(resource.type):
        return []
    inputs = inputs_of(resource)
    return _step(resource, inputs, ctx, _lifecycle(resource.type).delete(resource, inputs, ctx), "delete")


# Context from a capture -------------------------------------------------------------------------


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    return str(unwrap_secrets(value)).lower() == "true"


def server_context(plan: Plan, server: str, secrets: SecretStyle = SecretStyle.VALUES) -> ServerContext:
    """The context of `server` as the captured stack leaves it deployed.

    Admin and its superuser flag from the server's provider; memberships from the Roles' `roles`
    and the GrantRoles; schema and database owners from the Schemas and Databases.
    """
    provider = plan.provider_of_server(server)
    settings = unwrap_secrets(provider.inputs)
    if provider.type == MYSQL_PROVIDER:
        return ServerContext(
            server=server, engine="mysql", admin_user=str(settings.get("username") or "root"), secrets=secrets
        )
    memberships: dict[str, list[str]] = {}
    schema_owners: dict[tuple[str, str], str] = {}
    database_owners: dict[str, str] = {}
    provider_database = str(settings.get("database") or "postgres")
    provider_databases: dict[str, str] = {}
    for resource in plan.on_server(server):
        if resource.type == POSTGRES_PROVIDER:
            provider_databases[resource.urn] = str(unwrap_secrets(resource.inputs).get("database") or "postgres")
        inputs = unwrap_secrets(resource.inputs)
        if resource.type == PG_ROLE:
            memberships.setdefault(str(inputs["name"]), []).extend(set_order(str(r) for r in inputs.get("roles") or []))
        elif resource.type == PG_GRANT_ROLE:
            memberships.setdefault(str(inputs["role"]), []).append(str(inputs["grantRole"]))
        elif resource.type == PG_SCHEMA and inputs.get("owner"):
            schema_owners[(str(inputs.get("database") or provider_database), str(inputs["name"]))] = str(
                inputs["owner"]
            )
        elif resource.type == PG_DATABASE and inputs.get("owner"):
            database_owners[str(inputs["name"])] = str(inputs["owner"])
    return ServerContext(
        server=server,
        engine="postgresql",
        admin_user=str(settings.get("username") or "postgres"),
        admin_is_superuser=_flag(settings.get("superuser"), True),
        provider_database=provider_database,
        memberships={role: tuple(dict.fromkeys(groups)) for role, groups in memberships.items()},
        schema_owners=schema_owners,
        database_owners=database_owners,
        secrets=secrets,
        provider_databases=provider_databases,
    )


def with_secrets(ctx: ServerContext, secrets: SecretStyle) -> ServerContext:
    """The same context with passwords shown another way."""
    return dataclasses.replace(ctx, secrets=secrets)


def password_resources(plan: Plan, server: str) -> list[Resource]:
    """The server's resources that set a password (Roles with one, MySQL users, user mappings), in creation order."""
    found = []
    for resource in plan.on_server(server):
        if isinstance(password_input(resource), Secret):
            found.append(resource)
    return found
