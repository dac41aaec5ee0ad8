"""A stack deployed with an earlier program keeps every resource: no replace, no delete.

The fixtures hold what the program registered before its components nested (URN, type, parent,
inputs; secrets masked). Each resource of today's program must claim exactly one of those
identities, by its URN or one of its aliases, with the same type and inputs (an input change on a
resource whose provider marks it ForceNew would be a replace); every old identity must be claimed.
Checked with URNs as the mocks make them and as the Pulumi engine makes them (tests/components/urns.py).
"""

from __future__ import annotations

import json

import pytest

from resource_types import (
    CONTAINER,
    DYNAMIC_RESOURCE,
    MYSQL_USER,
    PG_DATABASE,
    PG_DEFAULT_PRIVILEGES,
    PG_GRANT,
    PG_ROLE,
    PG_SCHEMA,
    RANDOM_PASSWORD,
)
from review.capture.program import Capture, known_secrets
from tests.components.identity import SECRET_MARKER, configs, fixture_path, identities, load
from tests.components.urns import EngineUrns, MockUrns, nodes_of, nodes_of_entries
from tests.graph import ancestors
from topology.catalog import LANGFLOW_VERSION

SCHEMES: dict[str, type[MockUrns] | type[EngineUrns]] = {"mocks": MockUrns, "engine": EngineUrns}
SALT_KEY_SUFFIX = "-scram-salt-key"
"""Each PostgreSQL server's key, from which its login roles' SCRAM salts derive (components/servers.py), is new;
the RandomPassword salt each login role had (`<role>-scram-salt`) goes. Both are state only: no SQL runs but the
one `ALTER ROLE ... PASSWORD` per login role whose verifier the new salt changes (its password stays)."""


def claims(old_urns: dict[str, str], after: Capture, scheme: str) -> dict[str, str]:
    """Old URN (mock-made) -> the new resource (mock-made URN) claiming it by its URN or an alias.

    `old_urns`: each old resource's URN in the scheme -> its mock-made URN.
    """
    nodes = nodes_of(after)
    urns = SCHEMES[scheme](nodes)
    claimed: dict[str, str] = {}
    for node in nodes:
        if node.urn.endswith(SALT_KEY_SUFFIX):
            continue  # new by design (see SALT_KEY_SUFFIX)
        known_as = {urns.urn(node), *urns.aliases(node)}
        old = sorted(old_urns[urn] for urn in known_as if urn in old_urns)
        assert len(old) == 1, f"{urns.urn(node)} is known by {len(old)} old resources: {old}"
        assert old[0] not in claimed, f"{old[0]} is claimed by {claimed.get(old[0])} and {node.urn}"
        claimed[old[0]] = node.urn
    return claimed


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
@pytest.mark.parametrize("config", ["dev", "prod", "shared", "extended"])
def test_every_deployed_resource_keeps_its_identity_and_inputs(config: str, scheme: str) -> None:
    entries = load(config)
    old_nodes = nodes_of_entries(entries)
    old_scheme = SCHEMES[scheme](old_nodes)
    old_urns = {old_scheme.urn(node): node.urn for node in old_nodes}
    before = {entry["urn"]: entry for entry in entries}
    after = configs()[config]
    claimed = claims(old_urns, after, scheme)
    unclaimed = set(before) - set(claimed)
    assert sorted(urn for urn in unclaimed if not urn.endswith("-scram-salt")) == [], "these would be deleted"
    assert {before[urn]["type"] for urn in unclaimed} <= {RANDOM_PASSWORD}
    now = {entry["urn"]: entry for entry in json.loads(json.dumps(identities(after)))}
    by_urn_after = after.by_urn()
    for old, new in claimed.items():
        assert now[new]["type"] == before[old]["type"], new
        inputs = dict(now[new]["inputs"])
        if config == "prod" and now[new]["type"] == MYSQL_USER and inputs["user"] != "scheduler_user":
            # prod's MySQL connection uses TLS, so its backup users now require it (the scheduler's cannot:
            # EasyAppointments has no TLS setting); the option is in ignore_changes, so a user made before
            # keeps its own (no replacement).
            assert inputs.pop("tlsOption") == "SSL", new
            assert "tlsOption" in by_urn_after[new].ignore_changes, new
        expected = dict(before[old]["inputs"])
        if now[new]["type"] == CONTAINER and new.endswith("::langflow-server"):
            # Langflow moved to a current release (topology.catalog.LANGFLOW_VERSION): a new image, by design.
            assert inputs.pop("image") == f"langflowai/langflow:{LANGFLOW_VERSION}", new
            expected.pop("image")
            # Its start period is spelled as the docker provider reads it back (Go's `3m0s`, not `180s`), which
            # the same replacement brings: the same duration.
            assert inputs["healthcheck"].pop("startPeriod") == "3m0s", new
            assert expected["healthcheck"].pop("startPeriod") == "180s", new
        if now[new]["type"] == CONTAINER and "healthcheck" in inputs and "healthcheck" not in expected:
            # EnGarde's services (built-in and added) gained the stack's healthcheck (GET /health), by design.
            assert "/health'" in inputs.pop("healthcheck")["tests"][1], new
        if config != "prod" and now[new]["type"] in (PG_ROLE, PG_SCHEMA):
            # An unprotected container server is disposable: its schemas drop with what they hold and its roles
            # reassign and drop what they own, so `pulumi destroy` of a dev stack goes through (by design; an
            # update of the provider's state, no SQL).
            for key, before_value in (("skipReassignOwned", True), ("dropCascade", False)):
                if expected.get(key) == before_value:
                    assert inputs.pop(key) is (not before_value), new
                    expected.pop(key)
        assert inputs == expected, new


def test_the_components_did_move(dev: Capture) -> None:
    """The identities are kept through aliases, not by leaving everything where it was."""
    urns = EngineUrns(nodes_of(dev))
    moved = [node for node in nodes_of(dev) if node.aliases]
    assert len(moved) > 30
    assert all(urns.urn(node) not in urns.aliases(node) for node in moved)


SERVER_CHAIN_TYPES = {PG_GRANT, PG_DEFAULT_PRIVILEGES, PG_SCHEMA, DYNAMIC_RESOURCE}


@pytest.mark.parametrize("config", ["dev", "prod", "shared", "extended"])
def test_every_resource_waits_for_what_it_waited_for(config: str) -> None:
    """The same creation order: each resource's dependencies are the same resources as before."""
    entries = load(config)
    before = {entry["urn"]: entry for entry in entries}
    after = configs()[config]
    claimed = claims({urn: urn for urn in before}, after, "mocks")
    renamed = {new: old for old, new in claimed.items()}
    by_urn = after.by_urn()
    for old, new in claimed.items():
        waits_for = sorted(renamed[urn] for urn in by_urn[new].depends_on if not urn.endswith(SALT_KEY_SUFFIX))
        # Every server's grants run one after the other (one chain for the server, whatever its admin:
        # components/ordering.py), so a resource may wait for more, of that chain only; and a disposable
        # (unprotected container) server's database waits for its roles too, so that `pulumi destroy` drops
        # it, with every table in it, before them. Ordering only: nothing is replaced.
        allowed = SERVER_CHAIN_TYPES | ({PG_ROLE} if by_urn[new].type == PG_DATABASE else set())
        # What it waited for, it still waits for (a service container now through its server chain's last link).
        transitively = {renamed[urn] for urn in ancestors(after, by_urn[new]) if urn in renamed}
        # A login role's verifier came from its own salt, now from its server's key (SALT_KEY_SUFFIX).
        waited = {urn for urn in before[old]["depends_on"] if not urn.endswith("-scram-salt")}
        assert waited <= transitively, new
        extra = set(waits_for) - waited
        assert {by_urn[claimed[urn]].type for urn in extra} <= allowed, new


def test_no_fixture_holds_a_password() -> None:
    for config, result in configs().items():
        text = fixture_path(config).read_text()
        assert SECRET_MARKER in text
        assert not [secret for secret in known_secrets(result) if secret in text], config
