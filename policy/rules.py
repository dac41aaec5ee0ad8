"""The pack's rules as plain functions over plain data: no Pulumi, no CrossGuard.

The CrossGuard adapters (`policy/crossguard.py`) and the tests (on the real program's captured
resources) feed the same functions, so what the tests prove is what `pulumi preview` enforces.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import resource_types

ROLE: Final = resource_types.PG_ROLE
SCHEMA: Final = resource_types.PG_SCHEMA
DATABASE: Final = resource_types.PG_DATABASE
GRANT: Final = resource_types.PG_GRANT
DEFAULT_PRIVILEGES: Final = resource_types.PG_DEFAULT_PRIVILEGES
MYSQL_DATABASE: Final = resource_types.MYSQL_DATABASE
CONTAINER: Final = resource_types.CONTAINER
VOLUME: Final = resource_types.VOLUME

ELEVATED_ATTRIBUTES: Final = ("superuser", "createDatabase", "createRole", "replication", "bypassRowLevelSecurity")
REPLICATION_LOGIN: Final = "engarde_replicator"
"""The one login role allowed REPLICATION (and nothing else elevated): the replicas' (topology.catalog.REPLICATOR)."""
CREDENTIAL_WORDS: Final = ("PASSWORD", "SECRET", "TOKEN", "KEY")
DATABASE_SERVER_IMAGES: Final = frozenset({"postgres", "postgresql", "mysql", "mariadb"})
DATABASE_SERVER_COMMANDS: Final = frozenset({"postgres", "mysqld", "mariadbd"})
"""What a database server container runs when its command is given (`postgres -c max_connections=...`)."""

# `scheme://user:password@`: userinfo with a non-empty password (RFC 3986 userinfo has no `/?#@`).
_URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#@:]*:[^\s/?#@]+@")

Path = tuple[str | int, ...]

# What the postgresql provider revokes before it grants (the resource's identity on the server).
_KEY_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    GRANT: ("database", "role", "schema", "objectType"),
    DEFAULT_PRIVILEGES: ("database", "owner", "role", "schema", "objectType"),
}


class Unknown:
    """A value the engine does not know yet (a preview of something computed)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = Unknown()


@dataclass(frozen=True)
class PolicyInput:
    """One resource, as much of it as both the engine and a captured program run can show."""

    urn: str
    type: str
    name: str
    props: Mapping[str, object]
    """Property values in wire format (camelCase keys), secrets unwrapped, `UNKNOWN` where not known yet."""
    provider: str | None = None
    """URN of the resource's provider."""
    protect: bool = False
    retain_on_delete: bool | None = None
    """None: not visible (CrossGuard does not expose `retainOnDelete`)."""
    secrets: frozenset[Path] = field(default_factory=frozenset)
    """Paths of the property values that reached the engine as secrets."""

    def is_secret(self, path: Path) -> bool:
        """Whether the value at `path` is secret, itself or as part of a secret container."""
        return any(path[:length] in self.secrets for length in range(1, len(path) + 1))


@dataclass(frozen=True)
class Violation:
    """One breach of a rule, on one resource."""

    urn: str
    message: str


def elevated_login_roles(resources: Iterable[PolicyInput]) -> list[Violation]:
    """LOGIN roles with SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS (REPLICATION alone
    is allowed to the replicas' login role, `engarde_replicator`)."""
    violations = []
    for role in _of_type(resources, ROLE):
        # `login` defaults to false; one not known yet (a preview) may be true, so it is judged too.
        login = role.props.get("login")
        if login is not True and not isinstance(login, Unknown):
            continue
        elevated = [attribute for attribute in ELEVATED_ATTRIBUTES if role.props.get(attribute) is True]
        if elevated == ["replication"] and role.props.get("name") == REPLICATION_LOGIN:
            continue
        if elevated:
            violations.append(
                Violation(role.urn, f"{_label(role)} logs in and has {', '.join(elevated)}: no login role may")
            )
    return violations


def duplicate_privilege_keys(resources: Iterable[PolicyInput]) -> list[Violation]:
    """Two Grants or two DefaultPrivileges on one key: the provider's revoke-then-grant makes one undo the other."""
    groups: dict[tuple[object, ...], list[PolicyInput]] = defaultdict(list)
    for resource in resources:
        key = privilege_key(resource)
        if key is not None:
            groups[key].append(resource)
    return [_duplicate(group) for group in groups.values() if len(group) > 1]


def privilege_key(resource: PolicyInput) -> tuple[object, ...] | None:
    """What the provider revokes before granting; None for other types or a key not known yet."""
    fields = _KEY_FIELDS.get(resource.type)
    if fields is None:
        return None
    values = [resource.props.get(name) for name in fields]
    if any(isinstance(value, Unknown) for value in values):
        return None
    return (resource.type, resource.provider, *values)


def plaintext_credentials(resources: Iterable[PolicyInput]) -> list[Violation]:
    """Containers whose env carries a credential that is not a secret (it would sit in clear text in state)."""
    violations = []
    for container in _of_type(resources, CONTAINER):
        exposed = [key for index, key in _credential_entries(container) if not container.is_secret(("envs", index))]
        if exposed:
            violations.append(
                Violation(
                    container.urn,
                    f"{_label(container)} has credentials in plain text: {', '.join(exposed)} "
                    "(pass the env as a secret Output)",
                )
            )
    return violations


def is_credential(entry: str) -> bool:
    """A `KEY=value` env entry that looks like a credential: by its name, or a URL with a password."""
    key, _, value = entry.partition("=")
    return any(word in key.upper() for word in CREDENTIAL_WORDS) or bool(_URL_WITH_PASSWORD.search(value))


def unpinned_images(resources: Iterable[PolicyInput]) -> list[Violation]:
    """Containers whose image is `latest` or has no tag (a digest is pinned)."""
    violations = []
    for container in _of_type(resources, CONTAINER):
        image = container.props.get("image")
        problem = image_pin_problem(image) if isinstance(image, str) else None
        if problem:
            violations.append(Violation(container.urn, f"{_label(container)}: image {image!r} {problem}"))
    return violations


def image_pin_problem(reference: str) -> str | None:
    """Why an image reference is not pinned, or None when it is (a tag other than `latest`, or a digest)."""
    if "@" in reference:
        return None
    repository = reference.rsplit("/", 1)[-1]
    # A registry port (`host:5000/name`) sits before the last `/`: only the last component carries the tag.
    _, colon, tag = repository.partition(":")
    if not colon or not tag:
        return "has no tag: pin a version"
    if tag.lower() == "latest":
        return "uses `latest`: pin a version"
    return None


def unprotected_stateful(resources: Iterable[PolicyInput]) -> list[Violation]:
    """Stateful resources without `protect` (volumes also without `retainOnDelete`, where visible)."""
    resources = list(resources)
    owners = data_owning_roles(resources)
    violations = []
    for resource in resources:
        if not is_stateful(resource, owners):
            continue
        if not resource.protect:
            violations.append(Violation(resource.urn, f"{_label(resource)} holds data and is not protected"))
        if resource.type == VOLUME and resource.retain_on_delete is False:
            violations.append(Violation(resource.urn, f"{_label(resource)} holds data and is not retainOnDelete"))
    return violations


def is_stateful(resource: PolicyInput, owners: frozenset[tuple[str | None, str]]) -> bool:
    """Databases, schemas, data-owning roles, volumes and database-server containers."""
    if resource.type in (DATABASE, SCHEMA, MYSQL_DATABASE, VOLUME):
        return True
    if resource.type == ROLE:
        return (resource.provider, resource.props.get("name")) in owners
    if resource.type == CONTAINER:
        return is_database_server(resource)
    return False


def data_owning_roles(resources: Iterable[PolicyInput]) -> frozenset[tuple[str | None, str]]:
    """(provider, role) pairs that own data: dropping such a role loses or orphans what it created."""
    # Owners of a schema or database; the creators default privileges are declared FOR; holders of
    # CREATE on a schema (an adopted `public`): each owns the tables it creates.
    owners: set[tuple[str | None, str]] = set()
    for resource in resources:
        role: object = None
        if resource.type in (SCHEMA, DATABASE, DEFAULT_PRIVILEGES):
            role = resource.props.get("owner")
        elif resource.type == GRANT and _grants_schema_create(resource):
            role = resource.props.get("role")
        if isinstance(role, str):
            owners.add((resource.provider, role))
    return frozenset(owners)


def is_database_server(container: PolicyInput) -> bool:
    """A container running a database server image (postgres, mysql, ...) as a server.

    A container that runs another command with such an image (a backup job using the server's own
    client tools) holds no data itself; a server started with its own flags (`postgres -c ...`) does."""
    image = container.props.get("image")
    command = container.props.get("command")
    if not isinstance(image, str) or (
        isinstance(command, list) and command and command[0] not in DATABASE_SERVER_COMMANDS
    ):
        return False
    name = image.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[0]
    return name in DATABASE_SERVER_IMAGES


def is_protected_stack(stack: str, protected_stacks: Iterable[str]) -> bool:
    """Whether `stack` (plain or `org/project/stack`) is one whose stateful resources must be protected."""
    return stack.rsplit("/", 1)[-1] in {name.rsplit("/", 1)[-1] for name in protected_stacks}


def _grants_schema_create(grant: PolicyInput) -> bool:
    privileges = grant.props.get("privileges")
    return (
        grant.props.get("objectType") == "schema"
        and isinstance(privileges, list | tuple)
        and any(isinstance(p, str) and p.upper() == "CREATE" for p in privileges)
    )


def _credential_entries(container: PolicyInput) -> list[tuple[int, str]]:
    envs = container.props.get("envs")
    if not isinstance(envs, list | tuple):
        return []
    entries = [(index, entry) for index, entry in enumerate(envs) if isinstance(entry, str) and is_credential(entry)]
    return [(index, entry.partition("=")[0]) for index, entry in entries]


def _duplicate(group: list[PolicyInput]) -> Violation:
    first = group[0]
    names = ", ".join(repr(resource.name) for resource in group)
    fields = _KEY_FIELDS[first.type]
    key = ", ".join(f"{name} {first.props.get(name)!r}" for name in fields)
    return Violation(
        group[-1].urn,
        f"{first.type.rsplit(':', 1)[-1]} resources {names} share one key ({key}) on one server: "
        "the provider revokes the key before granting, so each undoes the other; merge them into one",
    )


def _of_type(resources: Iterable[PolicyInput], type_: str) -> list[PolicyInput]:
    return [resource for resource in resources if resource.type == type_]


def _label(resource: PolicyInput) -> str:
    kind = resource.type.rsplit(":", 1)[-1]
    name = resource.props.get("name")
    shown = f" ({name!r})" if isinstance(name, str) and name != resource.name else ""
    return f"{kind} {resource.name!r}{shown}"
