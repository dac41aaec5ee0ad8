"""The audit log table in the audit schema: who read or wrote across schemas, append-only for services."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.common import TYPE_PREFIX, child
from components.ordering import SchemaGrants
from components.sql_script import AdminEndpoint, SqlScript
from topology.sql import quote_ident, quote_literal

AUDIT_TABLE = "cross_schema_access"
REVOKE_AFTER_SETTING = "engarde.revoke_after"
"""Transaction-local setting naming the role granted to the admin for the script's duration."""


def audit_table_sql(schema: str, owner: str) -> str:
    """Creates the table as the schema's owner, so default privileges FOR ROLE the owner apply.

    `SET ROLE owner` needs membership in it. A superuser has it implicitly; an admin that is not
    one (managed servers) is made a member for this transaction only, as the postgresql provider
    does around its own statements (postgresql/helpers.go: withRolesGranted, grantRoleMembership,
    revokeRoleMembership): GRANT when not already a member that may SET to it (`set_option` on
    PostgreSQL 16+, any membership before), and REVOKE at the end of what it granted.
    """
    role, literal, setting = quote_ident(owner), quote_literal(owner), quote_literal(REVOKE_AFTER_SETTING)
    may_set = "CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END"
    return (
        "DO $grant$\n"
        "BEGIN\n"
        "    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)\n"
        f"       AND NOT pg_catalog.pg_has_role(current_user, {literal}, {may_set}) THEN\n"
        f"        EXECUTE format('GRANT %I TO %I', {literal}, current_user);\n"
        f"        PERFORM pg_catalog.set_config({setting}, {literal}, true);\n"
        "    END IF;\n"
        "END\n"
        "$grant$;\n"
        f"SET LOCAL ROLE {role};\n"
        f"CREATE TABLE IF NOT EXISTS {quote_ident(schema)}.{quote_ident(AUDIT_TABLE)} (\n"
        "    id bigserial PRIMARY KEY,\n"
        '    "timestamp" timestamptz NOT NULL DEFAULT now(),\n'
        "    source_schema text,\n"
        "    target_schema text,\n"
        "    user_role text NOT NULL DEFAULT current_user,\n"
        "    query text,\n"
        "    tenant_id uuid\n"
        ");\n"
        "RESET ROLE;\n"
        "DO $revoke$\n"
        "BEGIN\n"
        f"    IF current_setting({setting}, true) = {literal} THEN\n"
        f"        EXECUTE format('REVOKE %I FROM %I', {literal}, current_user);\n"
        "    END IF;\n"
        "END\n"
        "$revoke$;\n"
    )


def audit_table_exists_query(schema: str) -> str:
    """A row while the table exists: refresh reports the resource gone once it is dropped."""
    return (
        "SELECT 1 FROM pg_catalog.pg_tables "
        f"WHERE schemaname = {quote_literal(schema)} AND tablename = {quote_literal(AUDIT_TABLE)}"
    )


@dataclass
class AuditLogArgs:
    """Inputs of the audit log component."""

    schema: str
    """The audit schema."""
    owner: str
    """NOLOGIN role owning the audit schema and its table."""
    admin: AdminEndpoint
    """The server's admin (superuser, or granted the owner role for the script's transaction)."""
    database: pulumi.Input[str]
    """Database of the audit schema."""
    grants: SchemaGrants
    """The audit schema's grants: the table joins their chain (its default privileges apply to it)."""
    owner_role: pulumi.Resource
    """The owner role's component: `SET ROLE` needs the role to exist."""
    protect: bool = False
    """Protect the table's resource (prod)."""


class AuditLog(pulumi.ComponentResource):
    """`audit.cross_schema_access`, append-only for the services (they INSERT through `audit_append`)."""

    def __init__(self, name: str, args: AuditLogArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:AuditLog", name, None, opts)
        table = SqlScript(
            f"{name}-table",
            args.admin.script(
                args.database, audit_table_sql(args.schema, args.owner), audit_table_exists_query(args.schema)
            ),
            opts=child(self, depends_on=args.grants.depends_on(args.owner_role), protect=args.protect),
        )
        args.grants.add(table)
        self.register_outputs({})
