"""How the config models refuse a value: one line, `engarde:<key path>: <what is allowed>`.

A validator raises `refuse(...)`; `validated()` runs a model and turns pydantic's first error into the
`ConfigError` the program prints, the error's `loc` giving the key path (`servers.main.replicas[0].hostPort`).
`ConfigModel` is every config object's base: its keys are its fields' aliases, and it arrives as the engine
hands it to the program (a JSON string) or already parsed (the offline renderer reads YAML).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from topology.names import ConfigError

REFUSAL = "engarde"
"""The pydantic error type of a refusal: its context holds the message and the key it names."""

JSON_KINDS = {bool: "true or false", int: "an integer", str: "a string", dict: "an object", list: "a list"}
"""What a value of each JSON kind is called in a refusal."""


def refuse(message: str, *, key: str = "") -> PydanticCustomError:
    """A refusal of the value being validated or, with `key`, of that key below it (`sslmode`, `replicas[1]`)."""
    return PydanticCustomError(REFUSAL, "{message}", {"message": message, "key": key})


def engine_value(kind: type) -> Callable[[Any], Any]:
    """A validator taking a value of JSON kind `kind` as the engine hands it over: every value a program gets
    is a string, so a string is JSON-decoded when `kind` is not `str`; a whole number is an integer."""

    def decode(value: Any) -> Any:
        if isinstance(value, str) and kind is not str:
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise refuse(f"must be {JSON_KINDS[kind]} (could not parse the value)") from None
        if kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise refuse(f"must be {JSON_KINDS[kind]} (got {type(value).__name__})")
        return value

    return decode


_object = engine_value(dict)


class ConfigModel(BaseModel):
    """One object of the stack config. Its keys are its fields' aliases (the config's camelCase); any other key is
    refused, naming the keys allowed. Field docstrings are the keys' descriptions in the JSON Schema."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _an_object_of_known_keys(cls, data: Any) -> Any:
        if isinstance(data, cls):
            return data
        body: dict[str, Any] = _object(data)
        cls.check_given(body)
        allowed = cls.config_keys()
        for key in body:
            if key not in allowed:
                raise refuse(f"unknown key (allowed: {', '.join(cls.listed_keys())})", key=str(key))
        return body

    @classmethod
    def config_keys(cls) -> tuple[str, ...]:
        """The object's keys, in the order of its fields."""
        return tuple(field.alias or name for name, field in cls.model_fields.items())

    @classmethod
    def listed_keys(cls) -> tuple[str, ...]:
        """The keys a refusal of an unknown key lists."""
        return cls.config_keys()

    @classmethod
    def check_given(cls, body: Mapping[str, Any]) -> None:
        """Rules on which keys are given, checked first: a required key with its own reason, a key this object
        refuses with one. None by default."""

    def given(self, key: str) -> bool:
        """Whether the config gave `key` (an alias), rather than leaving it to its default."""
        return self.field_name(key) in self.model_fields_set

    @classmethod
    def field_name(cls, key: str) -> str:
        return next(name for name, field in cls.model_fields.items() if (field.alias or name) == key)

    def by_key(self) -> dict[str, Any]:
        """The object's values by key (alias)."""
        return {field.alias or name: getattr(self, name) for name, field in type(self).model_fields.items()}


GENERATED = {"use_attribute_docstrings": False}
"""The config of a model built by `create_model` from the catalog: its fields' descriptions are given (pydantic
would look for a source that has none, a slow search)."""

Model = TypeVar("Model", bound=BaseModel)


def validated(model: type[Model], raw: Any, context: Any = None) -> Model:
    """`raw` as `model`, or the `ConfigError` of the first thing wrong with it."""
    try:
        return model.model_validate(raw, context=context)
    except ValidationError as error:
        raise config_error(error.errors(include_url=False)[0]) from None


def config_error(error: ErrorDetails) -> ConfigError:
    """A pydantic error as a refusal. Never the value: it may be a secret (the message says what is allowed)."""
    path = key_path(error["loc"])
    context = error.get("ctx") or {}
    if error["type"] == REFUSAL:
        return ConfigError(_below(path, context["key"]), context["message"])
    if error["type"] == "missing":
        return ConfigError(path, "is required")
    return ConfigError(path, error["msg"])


def key_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic `loc` as a config key path: `servers.main.replicas[0].hostPort`."""
    # A server's settings are a union tagged by its mode, and pydantic puts the tag in the path:
    # ("servers", "main", "container", "hostPort").
    if loc[:1] == ("servers",) and len(loc) > 2:
        loc = loc[:2] + loc[3:]
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "[key]":  # a mapping's key refused: the path is the key's own
            path = f"{path}.{part}" if path else part
    return path


def _below(path: str, key: str) -> str:
    """`path` and the key below it a refusal names (none: "")."""
    return f"{path}.{key}" if path and key else path or key
