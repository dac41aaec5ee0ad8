"""The access model (docs/access-model.md) as plain, typed, immutable values: roles, schemas, the access
matrix, its group roles, and the privileges each profile grants."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Profile(StrEnum):
    """Access profiles: one vocabulary for code, review views, audit and tests."""

    OWNER = "owner"
    READ = "read"
    WRITE = "write"
    APPEND = "append"
    BACKUP = "backup"
    """Reads every table and sequence through `pg_read_all_data` (no grant, no access group)."""


GROUP_PROFILES = (Profile.READ, Profile.WRITE, Profile.APPEND)
"""Profiles held through an access group role `<schema>_<profile>`."""


class ObjectType(StrEnum):
    """What a privilege is on: the schema itself, or the tables or sequences in it."""

    SCHEMA = "schema"
    TABLE = "table"
    SEQUENCE = "sequence"


@dataclass(frozen=True, order=True)
class Privilege:
    """One privilege of one role on a schema, or on the tables or sequences in it.

    The unit of the access model, as in ldap2pg: the topology lists the privileges it wants, the
    components group them into provider resources (`PrivilegeSet`), the audit reads the live ones
    from the catalog in this shape and compares the two sets, the review views show them.
    """

    server: str
    """Server of the schema."""
    database: str
    """Database of the schema."""
    schema: str
    """Schema the privilege is on or in."""
    object_type: ObjectType
    """The schema itself, or its tables or sequences."""
    grantee: str
    """Role that holds it (`PUBLIC` for everyone)."""
    privilege: str
    """SELECT, USAGE, ... as PostgreSQL spells it."""
    default_for: str | None = None
    """A default privilege: the role whose future objects receive it (`FOR ROLE`); None: a grant."""
    relation: str | None = None
    """On one table or sequence (as the catalog reports it); None: on every one in the schema."""

    @property
    def is_default(self) -> bool:
        return self.default_for is not None

    def on_relation(self, relation: str) -> Privilege:
        """This privilege as the catalog reports it on one existing table or sequence."""
        # Built directly: the audit makes one per privilege and relation (dataclasses.replace is slower).
        return Privilege(
            self.server, self.database, self.schema, self.object_type, self.grantee, self.privilege,
            self.default_for, relation,
        )  # fmt: skip


@dataclass(frozen=True, order=True)
class PrivilegeSet:
    """The privileges one provider resource holds: a `Grant`, or a `DefaultPrivileges` when `default_for`.

    The provider revokes everything for this key before it grants (resource_postgresql_grant.go,
    resource_postgresql_default_privileges.go), so each key has exactly one resource.
    """

    server: str
    database: str
    schema: str
    object_type: ObjectType
    grantee: str
    default_for: str | None
    privileges: tuple[str, ...]

    @property
    def resource_suffix(self) -> str:
        """`schema`, `tables`, `sequences`, `default-tables` or `default-sequences`."""
        kind = "schema" if self.object_type is ObjectType.SCHEMA else f"{self.object_type.value}s"
        return f"default-{kind}" if self.default_for else kind


def privilege_sets(privileges: Iterable[Privilege]) -> tuple[PrivilegeSet, ...]:
    """Privileges grouped by provider resource, in the order their keys first appear; privileges sorted."""
    grouped: dict[tuple[str, str, str, ObjectType, str, str | None], list[str]] = {}
    for p in privileges:
        key = (p.server, p.database, p.schema, p.object_type, p.grantee, p.default_for)
        grouped.setdefault(key, []).append(p.privilege)
    return tuple(PrivilegeSet(*key, privileges=tuple(sorted(set(names)))) for key, names in grouped.items())


@dataclass(frozen=True)
class Role:
    """A role on one server."""

    server: str
    """Server the role lives on."""
    name: str
    """Role name (a validated PostgreSQL identifier)."""
    login: bool
    """LOGIN roles get a generated password; NOLOGIN roles are groups or owners."""
    search_path: tuple[str, ...] = ()
    """Role-level search_path (survives poolers and clients that drop URL options)."""
    member_of: tuple[str, ...] = ()
    """Built-in roles it is a member of (e.g. pg_monitor)."""
    owns_data: bool = False
    """Owns a schema or the objects in it: protected in prod, never reassigned on delete."""
    description: str = ""
    """Who uses it."""
    connection_limit: int = -1
    """CONNECTION LIMIT of the role (-1: none; every login role of the layout has one)."""
    limit_key: str = ""
    """Config key that sets `connection_limit` (named by the budget check and the plan)."""
    replication: bool = False
    """REPLICATION: only the replicas' login role (`engarde_replicator`) has it."""


@dataclass(frozen=True)
class Schema:
    """A schema and the role that owns what is created in it."""

    server: str
    """Server of the schema."""
    database: str
    """Database of the schema."""
    name: str
    """Schema name."""
    owner: str
    """Role that runs the migrations, so owns the objects created in the schema."""
    created: bool
    """False for `public`, which exists already: the owner gets USAGE+CREATE instead."""

    @property
    def owner_privileges(self) -> tuple[Privilege, ...]:
        """What the owner is granted on a schema it does not own (the existing `public`); nothing otherwise."""
        if self.created:
            return ()
        return profile_privileges(Profile.OWNER, self.server, self.database, self.name, self.owner, self.owner)


@dataclass(frozen=True)
class Access:
    """One cell of the access matrix: a login role's profile on a schema."""

    server: str
    database: str
    schema: str
    role: str
    profile: Profile


@dataclass(frozen=True)
class AccessGroup:
    """A NOLOGIN group role holding one (schema, profile)'s grants and default privileges."""

    server: str
    """Server of the schema."""
    database: str
    """Database of the schema."""
    schema: str
    """Schema the grants are on."""
    profile: Profile
    """read, write or append."""
    name: str
    """Group role name, `<schema>_<profile>`."""
    creator: str
    """Role whose future objects the default privileges cover (the schema's owner)."""
    members: tuple[str, ...]
    """Login roles that get the access by (INHERIT) membership."""

    @property
    def privileges(self) -> tuple[Privilege, ...]:
        """What the group holds: the profile's privileges on the schema, on what is in it, and by default."""
        return profile_privileges(self.profile, self.server, self.database, self.schema, self.name, self.creator)


@dataclass(frozen=True)
class DatabaseUser:
    """A MySQL user with all privileges on one database and nothing else."""

    server: str
    name: str
    database: str


@dataclass(frozen=True)
class ProfilePrivileges:
    """What a profile grants on a schema, its tables and its sequences (now and by default)."""

    schema: tuple[str, ...]
    tables: tuple[str, ...]
    sequences: tuple[str, ...]


PROFILE_PRIVILEGES: dict[Profile, ProfilePrivileges] = {
    Profile.OWNER: ProfilePrivileges(("CREATE", "USAGE"), (), ()),
    Profile.READ: ProfilePrivileges(("USAGE",), ("SELECT",), ("SELECT",)),
    Profile.WRITE: ProfilePrivileges(
        ("USAGE",), ("DELETE", "INSERT", "SELECT", "UPDATE"), ("SELECT", "UPDATE", "USAGE")
    ),
    Profile.APPEND: ProfilePrivileges(("USAGE",), ("INSERT",), ("USAGE",)),
    # What `pg_read_all_data` amounts to; held through that built-in role, never granted per schema.
    Profile.BACKUP: ProfilePrivileges(("USAGE",), ("SELECT",), ("SELECT",)),
}
"""Owners own their schema; on an existing `public` they get the schema privileges listed here."""


def profile_privileges(
    profile: Profile, server: str, database: str, schema: str, grantee: str, creator: str
) -> tuple[Privilege, ...]:
    """A profile's privileges for `grantee` on `schema`: on the schema, on its tables and sequences, and
    by default on those `creator` makes later -- in the order the provider resources are created."""
    table, sequence = ObjectType.TABLE, ObjectType.SEQUENCE
    wanted = PROFILE_PRIVILEGES[profile]

    def of(object_type: ObjectType, names: tuple[str, ...], default_for: str | None = None) -> list[Privilege]:
        return [Privilege(server, database, schema, object_type, grantee, n, default_for) for n in names]

    return (
        *of(ObjectType.SCHEMA, wanted.schema),
        *of(table, wanted.tables),
        *of(sequence, wanted.sequences),
        *of(table, wanted.tables, creator),
        *of(sequence, wanted.sequences, creator),
    )
