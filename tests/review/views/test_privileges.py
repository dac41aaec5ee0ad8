"""The privileges the program grants, read back from its resources, are exactly those the topology wants."""

from __future__ import annotations

import json

import pytest

from review.capture.plan import Plan
from review.capture.program import Capture
from review.views.plan import render_json
from review.views.privileges import privileges
from tests.conftest import ADMIN_PASSWORDS, stack_file_config
from topology import load_topology
from topology.model import ObjectType, Privilege

CASES = {
    "dev": ("dev", {}),
    "prod": ("prod", ADMIN_PASSWORDS),
    "shared": ("dev", {"langflowPlacement": "shared"}),
}


@pytest.mark.parametrize("case", CASES)
def test_the_program_grants_exactly_the_privileges_of_the_topology(case: str, request: pytest.FixtureRequest) -> None:
    stack, overrides = CASES[case]
    capture: Capture = request.getfixturevalue(case)
    wanted = load_topology(stack_file_config(stack) | overrides, stack).privileges
    granted = privileges(Plan(capture))
    assert len(granted) == len(set(granted)), "two resources grant the same privilege"
    assert set(granted) == set(wanted)


def test_the_json_plan_lists_each_privilege_once(dev: Capture) -> None:
    document = json.loads(render_json(Plan(dev)))
    rows = document["privileges"]
    assert len(rows) == len({json.dumps(row, sort_keys=True) for row in rows})
    assert {
        "server": "main",
        "database": "engarde",
        "schema": "audit",
        "objectType": ObjectType.TABLE.value,
        "grantee": "audit_append",
        "privilege": "INSERT",
        "defaultFor": "audit_owner",
    } in rows
    assert not any(row["grantee"] == "audit_append" and row["privilege"] == "SELECT" for row in rows)
    assert Privilege("flowdb", "langflow", "public", ObjectType.SCHEMA, "langflow_app", "CREATE") in privileges(
        Plan(dev)
    )
