"""The values a stack config holds, as constrained types.

Each type takes its value as the engine hands it over (`refusals.engine_value`), refuses a bad one with what is
allowed, and describes itself in the JSON Schema (the patterns there are an editor's hint: the validators here
decide, and are at least as strict).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from topology.capabilities import POSTGRES_VERSIONS, check_postgres_version
from topology.config.refusals import engine_value, refuse
from topology.names import (
    LONGEST_ROLE_SUFFIX,
    MAX_IDENTIFIER_BYTES,
    RESERVED_SCHEMAS,
    ConfigError,
    check_identifier,
    check_image,
    check_schema_name,
    check_service_name,
)

ENV_UNSAFE_CHARACTERS = "'\"\\$`"
"""Characters a value written into the services' env files may not hold: no quoting reads them the same in
python-dotenv, docker compose and sh in every combination (review/exports/env.py), so such a value is refused
here, naming its key, instead of when `review env` writes the file."""

_boolean = engine_value(bool)
_integer = engine_value(int)
_string = engine_value(str)
_list = engine_value(list)

Flag = Annotated[bool, BeforeValidator(_boolean)]
"""true or false (the engine's "true" and "false" too)."""


def _between(low: int, high: int, what: str = "an integer") -> Callable[[Any], int]:
    def check(value: Any) -> int:
        number: int = _integer(value)
        if not low <= number <= high:
            raise refuse(f"must be {what} between {low} and {high} (got {number})")
        return number

    return check


Port = Annotated[int, Field(ge=1, le=65535), BeforeValidator(_between(1, 65535, "a port number"))]
MaxConnections = Annotated[int, Field(ge=1, le=262143), BeforeValidator(_between(1, 262143))]
"""PostgreSQL's own bounds of max_connections."""
ReservedConnections = Annotated[int, Field(ge=0, le=1000), BeforeValidator(_between(0, 1000))]
QueryWaitTimeout = Annotated[int, Field(ge=1, le=3600), BeforeValidator(_between(1, 3600))]
MAX_CONNECTION_LIMIT = 10000
ConnectionLimit = Annotated[
    int, Field(ge=1, le=MAX_CONNECTION_LIMIT), BeforeValidator(_between(1, MAX_CONNECTION_LIMIT))
]
DumpsKept = Annotated[int, Field(ge=1, le=1000), BeforeValidator(_between(1, 1000))]


def _text(value: Any) -> str:
    text: str = _string(value)
    if not text.strip():
        raise refuse("must not be empty")
    return text


Text = Annotated[str, Field(min_length=1, json_schema_extra={"pattern": r"\S"}), BeforeValidator(_text)]
"""A string that is not empty (nor only spaces)."""


def _host_name(value: Any) -> str:
    host = _text(value)
    if any(c.isspace() or c in "/@?#" or c in ENV_UNSAFE_CHARACTERS for c in host):
        raise refuse("must be a host name or IP address")
    return host


HostName = Annotated[
    str, Field(min_length=1, json_schema_extra={"pattern": r"^[^\s/@?#'\"\\$`]+$"}), BeforeValidator(_host_name)
]


def _env_text(value: Any) -> str:
    """A string the services' env files carry as it is."""
    text = _text(value)
    for position, character in enumerate(text, start=1):
        if character in ENV_UNSAFE_CHARACTERS or not character.isprintable():
            raise refuse(
                f"must not hold quotes, backslashes, '$', '`' or control characters such as a newline "
                f"(an env file cannot carry them; {character!r} at position {position})"
            )
    return text


_ENV_CHARACTER = r"[^'\"\\$`\x00-\x1f\x7f]"
"""A character an env file carries (a pattern)."""
EnvText = Annotated[
    str, Field(min_length=1, json_schema_extra={"pattern": rf"^(?=.*\S){_ENV_CHARACTER}+$"}), BeforeValidator(_env_text)
]


def _http_url(value: Any) -> str:
    url = _env_text(value)
    scheme, separator, rest = url.partition("://")
    if scheme not in ("http", "https") or not separator or not rest or rest[0] in "/?#":
        raise refuse("must be an http:// or https:// URL with a host, e.g. https://book.example.com")
    return url


HttpUrl = Annotated[
    str,
    Field(min_length=1, json_schema_extra={"pattern": rf"^https?://(?![/?#]){_ENV_CHARACTER}+$", "format": "uri"}),
    BeforeValidator(_http_url),
]


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")


def one_of(allowed: tuple[str, ...]) -> BeforeValidator:
    """A string among `allowed` (the values of the field's Literal or enum type)."""

    def check(value: Any) -> str:
        text: str = _string(value)
        if text not in allowed:
            raise refuse(f"must be one of {', '.join(allowed)} (got {_shown(text)})")
        return text

    return BeforeValidator(check)


SslModeName = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
SSLMODES: tuple[str, ...] = get_args(SslModeName)
PLAINTEXT_SSLMODES = ("disable", "allow", "prefer")
"""sslmodes under which a connection may go unencrypted (libpq: `prefer` falls back to plain text)."""
VERIFYING_SSLMODES = ("verify-ca", "verify-full")
SslMode = Annotated[SslModeName, one_of(SSLMODES)]
PoolerName = Literal["none", "pgbouncer"]
Pooler = Annotated[PoolerName, one_of(get_args(PoolerName))]
PoolModeName = Literal["session", "transaction"]
PoolMode = Annotated[PoolModeName, one_of(get_args(PoolModeName))]


def _checked_by(check: Callable[[str, object], str]) -> BeforeValidator:
    """A check of topology/names.py (it names a key) as a validator (the key is where the value is)."""

    def validate(value: Any) -> str:
        try:
            return check("", value)
        except ConfigError as error:
            raise refuse(error.message) from None

    return BeforeValidator(validate)


_IDENTIFIER_PATTERN = r"^(?!pg_)[a-z_][a-z0-9_]*$"
Identifier = Annotated[
    str,
    Field(json_schema_extra={"pattern": _IDENTIFIER_PATTERN, "maxLength": MAX_IDENTIFIER_BYTES}),
    _checked_by(check_identifier),
]
"""A lower-case unquoted SQL identifier."""
SchemaName = Annotated[
    str,
    Field(
        json_schema_extra={
            "pattern": _IDENTIFIER_PATTERN,
            "maxLength": MAX_IDENTIFIER_BYTES - len(LONGEST_ROLE_SUFFIX),
            "not": {"enum": sorted(RESERVED_SCHEMAS)},
        }
    ),
    _checked_by(check_schema_name),
]
ServiceName = Annotated[
    str,
    Field(json_schema_extra={"pattern": r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", "maxLength": 40}),
    _checked_by(check_service_name),
]
ImageRef = Annotated[
    str,
    Field(json_schema_extra={"pattern": r"^(?!.*:latest$)[^\s@]+(:[^\s:/@]+|@sha256:[0-9a-f]{64})$"}),
    _checked_by(check_image),
]
"""An image reference pinned to a tag (not `latest`) or a full digest."""


def _unique(duplicate: Callable[[str], str]) -> AfterValidator:
    def check(names: list[str]) -> list[str]:
        twice = next((name for i, name in enumerate(names) if name in names[:i]), None)
        if twice is not None:
            raise refuse(duplicate(twice))
        return names

    return AfterValidator(check)


RoleNames = Annotated[
    list[Identifier], Field(json_schema_extra={"uniqueItems": True}), _unique(lambda _: "lists a role twice"),
    BeforeValidator(_list),
]  # fmt: skip
SchemaNames = Annotated[
    list[Identifier], Field(json_schema_extra={"uniqueItems": True}),
    _unique(lambda schema: f"lists schema {schema!r} twice"), BeforeValidator(_list),
]  # fmt: skip


def _postgres_version(value: Any) -> int:
    version: int = _integer(value)
    try:
        check_postgres_version("", version)
    except ConfigError as error:
        raise refuse(error.message) from None
    return version


PostgresVersion = Annotated[int, WithJsonSchema({"enum": list(POSTGRES_VERSIONS)}), BeforeValidator(_postgres_version)]

_WAL_SIZE = re.compile(r"([1-9][0-9]{0,6})(MB|GB)")
DEFAULT_MAX_SLOT_WAL_KEEP_SIZE = "10GB"


def _wal_size(value: Any) -> str:
    size = _text(value)
    if not _WAL_SIZE.fullmatch(size):
        raise refuse(f"must be a size in MB or GB such as 10GB (got {size!r})")
    return size


WalSize = Annotated[str, Field(json_schema_extra={"pattern": f"^{_WAL_SIZE.pattern}$"}), BeforeValidator(_wal_size)]

_MYSQL_NAME = re.compile(r"[a-z0-9_]+")


def _mysql_name(key: str, example: str) -> BeforeValidator:
    def check(value: Any) -> str:
        name = _text(value)
        if not _MYSQL_NAME.fullmatch(name):
            raise refuse(f"must be a MySQL {key} name such as {example} (got {name!r})")
        return name

    return BeforeValidator(check)


DEFAULT_CHARACTER_SET = "utf8mb4"
DEFAULT_COLLATION = "utf8mb4_unicode_ci"
_MYSQL_NAME_SCHEMA = Field(json_schema_extra={"pattern": f"^{_MYSQL_NAME.pattern}$"})
CharacterSet = Annotated[str, _MYSQL_NAME_SCHEMA, _mysql_name("characterSet", DEFAULT_CHARACTER_SET)]
Collation = Annotated[str, _MYSQL_NAME_SCHEMA, _mysql_name("collation", DEFAULT_COLLATION)]


def _absolute_path(value: Any) -> str:
    path = _text(value)
    if not path.startswith("/") or any(c.isspace() for c in path):
        raise refuse(f"must be an absolute path without spaces (got {path!r})")
    return path


AbsolutePath = Annotated[str, Field(json_schema_extra={"pattern": r"^/\S*$"}), BeforeValidator(_absolute_path)]

BACKUP_UNITS = {"m": 60, "h": 3600, "d": 86400}
"""A backup interval's units, in seconds."""


def _interval(value: Any) -> str:
    schedule: str = _string(value)
    number, unit = schedule[:-1], schedule[-1:]
    if unit not in BACKUP_UNITS or not number.isdigit() or int(number) == 0:
        raise refuse(f"must be an interval such as 30m, 6h or 1d (got {schedule!r})")
    return schedule


def interval_seconds(schedule: str) -> int:
    """A valid interval (`90m`) in seconds."""
    return int(schedule[:-1]) * BACKUP_UNITS[schedule[-1]]


Interval = Annotated[str, Field(json_schema_extra={"pattern": r"^0*[1-9][0-9]*[mhd]$"}), BeforeValidator(_interval)]


def _admin_password(value: Any) -> str:
    """A non-empty string. The engine passes a list or an object given for it as its JSON text: one that reads as
    a JSON list or object is taken for one (no password looks like that). Never shown in a refusal."""
    given = value
    if isinstance(value, str) and value[:1] in "[{":
        try:
            given = json.loads(value)
        except json.JSONDecodeError:
            given = value
    if not isinstance(given, str):
        raise refuse(f"must be a string (got {_type_name(given)})")
    if not given:
        raise refuse("must not be empty")
    return given


def _type_name(value: Any) -> str:
    kinds = ((bool, "a boolean"), (int | float, "a number"), (list, "a list"), (dict, "an object"))
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


ENCRYPTED_VALUE_SCHEMA = {
    "type": "object",
    "properties": {
        "secure": {"type": "string", "description": "The value, encrypted by the stack's secrets provider."}
    },
    "required": ["secure"],
    "additionalProperties": False,
}
"""A value as `pulumi config set --secret` writes it into a stack file."""
AdminPassword = Annotated[
    str,
    WithJsonSchema({"anyOf": [ENCRYPTED_VALUE_SCHEMA, {"type": "string", "minLength": 1}]}),
    BeforeValidator(_admin_password),
]
"""How a stack file holds it: `{secure: ...}` (set with --secret), or in clear text where allowed."""
