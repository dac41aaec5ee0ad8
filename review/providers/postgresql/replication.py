"""postgresql:PhysicalReplicationSlot: `postgresql/resource_postgresql_physical_replication_slot.go`
at ff936b9."""

from __future__ import annotations

from typing import Any

from resource_types import (
    PG_PHYSICAL_SLOT,
)
from review.capture.program import Resource
from review.providers.core import REQUIRED, Lifecycle, ServerContext, text_of
from review.providers.postgresql.helpers import pg_literal

# postgresql:PhysicalReplicationSlot -- resource_postgresql_physical_replication_slot.go ----------


def _physical_slot_create(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLPhysicalReplicationSlotCreate: db.Exec, no transaction; fails if the slot exists."""
    return [f"SELECT FROM pg_create_physical_replication_slot({pg_literal(text_of(inputs, 'name'))})"]


def _physical_slot_delete(_resource: Resource, inputs: dict[str, Any], _ctx: ServerContext) -> list[str]:
    """resourcePostgreSQLPhysicalReplicationSlotDelete: fails while a replica still streams from it."""
    return [f"SELECT pg_drop_replication_slot({pg_literal(text_of(inputs, 'name'))})"]


KNOWN_INPUTS: dict[str, dict[str, Any]] = {
    # resource_postgresql_physical_replication_slot.go resourcePostgreSQLPhysicalReplicationSlot
    PG_PHYSICAL_SLOT: {"name": REQUIRED},
}  # fmt: skip
"""Each type's inputs with its schema defaults (`REQUIRED`: none), as upstream declares them."""

LIFECYCLES: dict[str, Lifecycle] = {
    # Create and Delete only: `name` is ForceNew, there is no Update.
    PG_PHYSICAL_SLOT: Lifecycle(
        _physical_slot_create, None, _physical_slot_delete, frozenset({"name"}), transaction=False
    ),
}  # fmt: skip
