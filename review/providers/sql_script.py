"""The program's dynamic SQL script (`components/sql_script.py`): its `sql`, in one transaction."""

from __future__ import annotations

from typing import Any

from resource_types import (
    DYNAMIC_RESOURCE,
)
from review.capture.program import Resource, unwrap_secrets
from review.providers.core import Lifecycle, ServerContext, named_database

# The dynamic SQL script -- components/sql_script.py ---------------------------------------------


def _script(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """_SqlScriptProvider.create / update: `sql` as one transaction."""
    return [str(unwrap_secrets(inputs["sql"]))]


def _script_update(_r: Resource, _old: dict[str, Any], new: dict[str, Any], ctx: ServerContext) -> list[str]:
    return _script(_r, new, ctx)


def _nothing(_resource: Resource, _inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """_SqlScriptProvider.delete: the objects stay."""
    return []


LIFECYCLES: dict[str, Lifecycle] = {
    DYNAMIC_RESOURCE: Lifecycle(_script, _script_update, _nothing, frozenset(), database=named_database),
}  # fmt: skip
