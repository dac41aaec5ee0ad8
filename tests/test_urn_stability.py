"""Config changes must not change the URN (so never replace or delete) of anything they do not touch."""

from __future__ import annotations

from resource_types import PG_SCHEMA
from review.capture.program import Capture, unwrap_secrets
from tests.conftest import capture


def urns(result: Capture) -> set[str]:
    return {r.urn for r in result.resources}


def urns_without(result: Capture, *fragments: str) -> set[str]:
    return {urn for urn in urns(result) if not any(f in urn.rsplit("::", 1)[-1] for f in fragments)}


def test_adding_a_service_keeps_every_existing_urn(dev: Capture) -> None:
    extended = capture("dev", services={"billing": {"image": "ghcr.io/engardehq/billing:1.0.0", "reads": ["onside"]}})
    assert urns(dev) <= urns(extended)
    added = urns(extended) - urns(dev)
    assert added and all("billing" in urn.rsplit("::", 1)[-1] for urn in added)


def test_changing_an_image_keeps_every_urn(dev: Capture) -> None:
    changed = capture("dev", images={"onside": "ghcr.io/engardehq/onside:2.0.0"})
    assert urns(changed) == urns(dev)


def test_switching_langflow_placement_keeps_untouched_services_and_servers(dev: Capture, shared: Capture) -> None:
    langflow_only = ("flowdb", "langflow_", "main-langflow")
    kept = urns_without(dev, *langflow_only)
    assert kept <= urns(shared), sorted(kept - urns(shared))
    assert any(urn.endswith("::langflow-server") for urn in kept)
    # What changes is Langflow's own placement: the dedicated server's resources, Langflow's role
    # and schema on main, and the memberships that name them.
    assert urns_without(shared, *langflow_only) == kept


def test_no_config_change_moves_a_schema_to_another_owner(dev: Capture, shared: Capture, prod: Capture) -> None:
    """The provider's Schema update runs `ALTER SCHEMA ... OWNER TO` without the temporary membership
    its create takes (resource_postgresql_schema.go: setSchemaOwner), which fails for an admin that
    is not a superuser: the owner of a schema is fixed by its name, so no update ever changes it."""
    extended = capture("dev", services={"billing": {"image": "ghcr.io/engardehq/billing:1.0.0", "schema": "bills"}})
    owners: dict[str, set[object]] = {}
    for result in (dev, shared, prod, extended):
        for schema in result.by_type(PG_SCHEMA):
            owners.setdefault(schema.name, set()).add(unwrap_secrets(schema.inputs)["owner"])
    assert owners and all(len(found) == 1 for found in owners.values()), owners
