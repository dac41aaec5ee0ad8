"""What several postgresql resources share: helpers.go's locks, `withRolesGranted`, quoting and the
blocks the model renders where the provider decides from live state (cyrilgdn/terraform-provider-postgresql
at ff936b9, `postgresql/helpers.go`)."""

from __future__ import annotations

from collections.abc import Iterable

from review.providers.core import ServerContext, _terminated
from topology.sql import quote_ident

# Shared PostgreSQL pieces -------------------------------------------------------------------------


LOCK_TIMEOUT = "SET statement_timeout = 0"
"""helpers.go pgLockRole / pgLockDatabase: run first, so that waiting for the advisory lock cannot
time out (the lock itself is a SELECT, which the model leaves out)."""


def locked(body: list[str], locks: int = 1) -> list[str]:
    """`body` after the statements of `locks` pgLockRole / pgLockDatabase calls."""
    return [LOCK_TIMEOUT] * locks + body


def with_roles_granted(ctx: ServerContext, roles: Iterable[str], body: list[str]) -> list[str]:
    """helpers.go `withRolesGranted`: a non-superuser admin is made a member of each role for the
    body and the membership is revoked after it (skipped for the admin itself and for roles it is
    already a member of). A role that is itself a member of the admin loses that membership for the
    body (PostgreSQL refuses circular memberships) and gets it back after. A superuser admin runs
    the body alone."""
    if ctx.admin_is_superuser:
        return body
    admin = quote_ident(ctx.admin_user)
    before: list[str] = []
    granted: list[str] = []
    reversed_: list[str] = []
    for role in dict.fromkeys(roles):
        if ctx.admin_user in ctx.memberships.get(role, ()):  # revokeRoleMembership(currentUser, role)
            before.append(f"REVOKE {admin} FROM {quote_ident(role)}")
            reversed_.append(role)
        if role and role != ctx.admin_user and role not in ctx.admin_member_of:  # grantRoleMembership
            before.append(f"GRANT {quote_ident(role)} TO {admin}")
            granted.append(role)
    after = [f"REVOKE {quote_ident(role)} FROM {admin}" for role in granted]
    after += [f"GRANT {admin} TO {quote_ident(role)}" for role in reversed_]
    return before + body + after


def owner_granted(ctx: ServerContext, owner: str, body: list[str]) -> list[str]:
    """resource_postgresql_database.go: `grantRoleMembership(owner, currentUser)` before the body and
    the deferred `revokeRoleMembership` after it, superuser or not."""
    if not owner or owner == ctx.admin_user or owner in ctx.admin_member_of:
        return body
    admin = quote_ident(ctx.admin_user)
    return [f"GRANT {quote_ident(owner)} TO {admin}", *body, f"REVOKE {quote_ident(owner)} FROM {admin}"]


def dollar_quoted(body: str, tag: str = "do") -> str:
    candidate, counter = f"${tag}$", 0
    while candidate in body:
        counter += 1
        candidate = f"${tag}{counter}$"
    return f"{candidate}\n{body}{candidate}"


def if_block(condition: str, then: list[str], otherwise: list[str] | None = None) -> str:
    """A DO block for a branch the provider takes on a query it runs first."""
    lines = ["BEGIN", f"    IF {condition} THEN"]
    lines += [f"        {_terminated(statement)}" for statement in then]
    if otherwise:
        lines.append("    ELSE")
        lines += [f"        {_terminated(statement)}" for statement in otherwise]
    lines += ["    END IF;", "END", ""]
    return "DO " + dollar_quoted("\n".join(lines))


def schema_exists(name: str) -> str:
    return f"EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = {pg_literal(name)})"


def pg_literal(value: str) -> str:
    """helpers.go pqQuoteLiteral inside single quotes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
