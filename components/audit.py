"""The audit log table in the audit schema (seed 001 §9.3)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.common import TYPE_PREFIX, child
from components.sql_script import SqlScript, SqlScriptArgs
from topology.sql import quote_ident

AUDIT_TABLE = "cross_schema_access"


def audit_table_sql(schema: str, owner: str) -> str:
    """Creates the table as the schema's owner, so default privileges FOR ROLE the owner apply."""
    return (
        f"SET LOCAL ROLE {quote_ident(owner)};\n"
        f"CREATE TABLE IF NOT EXISTS {quote_ident(schema)}.{quote_ident(AUDIT_TABLE)} (\n"
        "    id bigserial PRIMARY KEY,\n"
        '    "timestamp" timestamptz NOT NULL DEFAULT now(),\n'
        "    source_schema text,\n"
        "    target_schema text,\n"
        "    user_role text NOT NULL DEFAULT current_user,\n"
        "    query text,\n"
        "    tenant_id uuid\n"
        ");\n"
    )


@dataclass
class AuditLogArgs:
    """Inputs of the audit log component."""

    schema: str
    """The audit schema."""
    owner: str
    """NOLOGIN role owning the audit schema and its table."""
    host: pulumi.Input[str]
    """Admin endpoint host."""
    port: pulumi.Input[int]
    """Admin endpoint port."""
    admin_user: str
    """Admin role (a member of the owner role)."""
    admin_password: pulumi.Input[str]
    """Admin password (secret)."""
    database: pulumi.Input[str]
    """Database of the audit schema."""
    sslmode: str
    """libpq sslmode."""
    after: list[pulumi.Resource] = field(default_factory=list)
    """The schema (and anything else) the table is created after."""
    protect: bool = False
    """Protect the table's resource (prod)."""


class AuditLog(pulumi.ComponentResource):
    """`audit.cross_schema_access`, append-only for the services (they INSERT through `audit_append`)."""

    last: pulumi.Resource

    def __init__(self, name: str, args: AuditLogArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:AuditLog", name, None, opts)
        self.last = SqlScript(
            f"{name}-table",
            SqlScriptArgs(
                host=args.host,
                port=args.port,
                user=args.admin_user,
                password=args.admin_password,
                database=args.database,
                sslmode=args.sslmode,
                sql=audit_table_sql(args.schema, args.owner),
            ),
            opts=child(self, depends_on=args.after, protect=args.protect),
        )
        self.register_outputs({})
