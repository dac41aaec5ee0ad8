"""Naming rules for what the stack creates, checked before anything is registered."""

from __future__ import annotations

import re

from topology.model import GROUP_PROFILES

MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL silently truncates longer identifiers (NAMEDATALEN - 1)."""

LONGEST_ROLE_SUFFIX = max((f"_{profile.value}" for profile in GROUP_PROFILES), key=len)
"""Group roles are `<schema>_<profile>`; the schema name leaves room for the longest suffix."""

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_SERVICE = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")

RESERVED_SCHEMAS = frozenset({"public", "audit", "langflow", "information_schema", "postgres"})
"""Schema names a configured service may not take: built in, or used by the layout itself."""


class ConfigError(ValueError):
    """Invalid stack config: names the key (without namespace) and what is allowed."""

    def __init__(self, key: str, message: str, *, namespace: str = "engarde") -> None:
        super().__init__(f"{namespace}:{key}: {message}")
        self.key = key if namespace == "engarde" else f"{namespace}:{key}"
        self.message = message
        """What is allowed, without the key (the config models name the key from where the value is)."""


_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}")
"""A full image digest; a prefix (`@sha256:abc`) is not one."""


def _shown(value: object, limit: int = 60) -> str:
    """`value` for an error message: long strings keep their start and their end (where a tag is),
    and the quotes stay closed."""
    if isinstance(value, str) and len(value) > limit:
        half = (limit - 1) // 2
        value = value[:half] + "\u2026" + value[-half:]
    return repr(value)


def _first_offender(value: str, allowed: re.Pattern[str]) -> str:
    """` ('X' at position N)`: the first character `allowed` (one character class) refuses, or ''."""
    for position, character in enumerate(value, start=1):
        if not allowed.fullmatch(character):
            return f" ({character!r} at position {position})"
    return ""


def check_identifier(key: str, value: object, *, max_bytes: int = MAX_IDENTIFIER_BYTES) -> str:
    """A lower-case unquoted SQL identifier: [a-z_][a-z0-9_]*, at most `max_bytes` bytes."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        offender = _first_offender(value, re.compile(r"[a-z0-9_]")) if isinstance(value, str) else ""
        if isinstance(value, str) and value[:1].isdigit():
            offender = " (it starts with a digit)"
        raise ConfigError(
            key,
            f"must be a lower-case identifier matching [a-z_][a-z0-9_]* (got {_shown(value)}{offender})",
        )
    if len(value.encode()) > max_bytes:
        raise ConfigError(key, f"must be at most {max_bytes} bytes (got {len(value.encode())})")
    if value.startswith("pg_"):
        raise ConfigError(key, "must not start with 'pg_' (reserved by PostgreSQL)")
    return value


def check_schema_name(key: str, value: object) -> str:
    """A service schema: an identifier whose derived role names still fit in 63 bytes."""
    name = check_identifier(key, value, max_bytes=MAX_IDENTIFIER_BYTES - len(LONGEST_ROLE_SUFFIX))
    if name in RESERVED_SCHEMAS:
        raise ConfigError(key, f"{name!r} is reserved (reserved: {', '.join(sorted(RESERVED_SCHEMAS))})")
    return name


def check_service_name(key: str, value: object) -> str:
    """A service name: lower-case words joined by '-', at most 40 characters (container names)."""
    if not isinstance(value, str) or not _SERVICE.fullmatch(value) or len(value) > 40:
        offender = _first_offender(value, re.compile(r"[a-z0-9-]")) if isinstance(value, str) else ""
        raise ConfigError(
            key,
            "must start with a letter and be lower-case letters and digits joined by single '-', "
            f"at most 40 characters (got {_shown(value)}{offender})",
        )
    return value


def check_image(key: str, value: object) -> str:
    """An image reference pinned to a tag or digest; `latest` and bare names are refused."""
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise ConfigError(key, f"must be an image reference such as 'postgres:15.8' (got {_shown(value)})")
    name, at, digest = value.partition("@")
    if at:
        if not name or not _DIGEST.fullmatch("@" + digest):
            raise ConfigError(
                key, f"must end in a full digest, '@sha256:' and 64 hex digits (got digest {'@' + digest!r})"
            )
        return value
    last = value.rsplit("/", 1)[-1]
    if ":" not in last:
        raise ConfigError(key, f"must be pinned to a tag or digest, e.g. '{last}:1.2.3' (got {_shown(value)})")
    tag = last.rsplit(":", 1)[1]
    if tag == "latest":
        raise ConfigError(key, f"must be pinned to a version, not 'latest' (got {last!r})")
    if not tag:
        raise ConfigError(key, f"must name a tag after ':' (got {last!r})")
    return value
