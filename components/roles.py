"""PostgreSQL roles: login roles with a generated password, and NOLOGIN owner roles."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import pulumi
import pulumi_postgresql as postgresql

from components.common import TYPE_PREFIX, child, secret_password
from topology.model import Role
from topology.scram import derived_salt, scram_verifier

PASSWORD_LENGTH = 32


@dataclass
class DatabaseRoleArgs:
    """Inputs of a database role component."""

    role: Role
    """The role as the topology describes it."""
    provider: postgresql.Provider
    """Provider of the role's server."""
    protect: bool = False
    """Protect roles that own data (prod)."""
    groups: list[pulumi.Input[str]] = field(default_factory=list)
    """Group roles it is a member of (Outputs of the group roles, so it is created after them)."""
    adopt: bool = False
    """The role exists already: import it (its name is its ID) instead of creating it."""
    salt_key: pulumi.Input[str] | None = None
    """A login role: its server's secret key (base64), from which the role's SCRAM salt derives."""
    disposable: bool = False
    """Its server is a container the stack does not protect: deleting the role reassigns and drops what it
    owns (the data goes with the server's volume anyway) instead of failing."""


ADOPTION_IGNORED = ["password", "roles", "search_paths", "skip_reassign_owned", "connection_limit"]
"""Inputs an import cannot match: the provider's read of a role it did not create has no password
(resource_postgresql_role.go: resourcePostgreSQLRoleReadImpl sets it only when the state has one),
reports the role's own memberships, search_path and CONNECTION LIMIT, and keeps `skip_reassign_owned`
at false. An
import succeeds only when the program's inputs equal that read; these are left as they are for the
adopting `pulumi up`, and set by the next one, once the role is no longer listed in `adoptRoles`."""


def _adoption(name: str) -> dict[str, object]:
    return {"import_": name, "ignore_changes": ADOPTION_IGNORED}


class DatabaseRole(pulumi.ComponentResource):
    """A role with no elevated attribute; a LOGIN role gets a generated password."""

    name: pulumi.Output[str]
    password: pulumi.Output[str] | None
    verifier: pulumi.Output[str] | None
    """SCRAM-SHA-256 verifier of `password`: the role's stored password and PgBouncer's auth_file entry."""
    resource: postgresql.Role

    def __init__(self, name: str, args: DatabaseRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:DatabaseRole", name, None, opts)
        role = args.role
        protect = args.protect and role.owns_data
        self.password = (
            secret_password(f"{name}-password", length=PASSWORD_LENGTH, special=True, parent=self)
            if role.login
            else None
        )
        self.verifier = None
        if self.password is not None:
            if args.salt_key is None:
                raise ValueError(f"role {role.name}: a login role needs its server's salt key")
            self.verifier = pulumi.Output.secret(
                pulumi.Output.all(self.password, args.salt_key).apply(
                    lambda values: scram_verifier(
                        values[0], derived_salt(base64.b64decode(values[1]), role.name, values[0])
                    )
                )
            )
        self.resource = postgresql.Role(
            name,
            name=role.name,
            login=role.login,
            # PostgreSQL stores a SCRAM verifier given as the password as is: it never sees the password.
            password=self.verifier,
            connection_limit=role.connection_limit,
            search_paths=list(role.search_path) or None,
            # Every membership of the role, declared here only: the provider's update revokes all of
            # them and grants back exactly this list (resource_postgresql_role.go: revokeRoles,
            # grantRoles), and its read reports the live ones here.
            roles=[*role.member_of, *args.groups] or None,
            inherit=True,
            superuser=False,
            create_database=False,
            create_role=False,
            replication=role.replication,
            bypass_row_level_security=False,
            # Deleting a role that owns data must fail, never REASSIGN/DROP OWNED what it created, unless the
            # whole server is disposable (an unprotected container: `pulumi destroy` of a dev stack).
            skip_reassign_owned=role.owns_data and not args.disposable,
            opts=child(self, provider=args.provider, protect=protect, **_adoption(role.name) if args.adopt else {}),
        )
        self.name = self.resource.name
        self.register_outputs({"name": self.name})
