"""A stack deployed with an earlier program keeps every resource: no replace, no delete.

The fixtures hold what the program registered before its components nested (URN, type, inputs;
secrets masked). Each resource of today's program must claim exactly one of those identities,
by its URN or one of its aliases, with the same type and inputs (an input change on a resource
whose provider marks it ForceNew would be a replace); every old identity must be claimed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from review.capture import Capture
from tests.components.identity import configs, identities, load


def claims(before: dict[str, dict[str, Any]], after: Capture) -> dict[str, str]:
    """Old URN -> the new URN claiming it; fails on a resource with no or two old identities."""
    claimed: dict[str, str] = {}
    for resource in after.resources:
        old = [urn for urn in dict.fromkeys([resource.urn, *resource.aliases]) if urn in before]
        assert len(old) == 1, f"{resource.urn} is known by {len(old)} old resources: {old}"
        assert old[0] not in claimed, f"{old[0]} is claimed by {claimed.get(old[0])} and {resource.urn}"
        claimed[old[0]] = resource.urn
    return claimed


@pytest.mark.parametrize("config", ["dev", "prod", "shared", "extended"])
def test_every_deployed_resource_keeps_its_identity_and_inputs(config: str) -> None:
    before = {entry["urn"]: entry for entry in load(config)}
    after = configs()[config]
    claimed = claims(before, after)
    assert sorted(set(before) - set(claimed)) == [], "these would be deleted"
    now = {entry["urn"]: entry for entry in json.loads(json.dumps(identities(after)))}
    for old, new in claimed.items():
        assert now[new]["type"] == before[old]["type"], new
        assert now[new]["inputs"] == before[old]["inputs"], new


def test_the_components_did_move(dev: Capture) -> None:
    """The identities are kept through aliases, not by leaving everything where it was."""
    moved = [r for r in dev.resources if r.aliases]
    assert len(moved) > 30
    assert all(r.urn not in r.aliases for r in moved)
