"""What a deployed stack knows each resource by: its URN, type, parent, inputs (secrets masked), dependencies.

`python -m tests.components.identity` writes `fixtures/urns-before-<config>.json` from the program
as it is. The fixtures in the repository were written by the program before its components nested
(every component at the root of the stack): they are what stacks deployed with it hold, which every
later program must keep (tests/components/test_identity.py). Rewriting them from a later program
would drop that proof.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from review.capture.program import Capture, Secret
from tests.conftest import ADMIN_PASSWORDS, capture

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SECRET_MARKER = "[secret]"

EXTRA_SERVICE = {"billing": {"image": "ghcr.io/engardehq/billing:1.0.0", "schema": "bills", "reads": ["onside"]}}
MAIN_POOLED = {
    "main": {"mode": "container", "image": "postgres:15.8", "hostPort": 5432, "pooler": "pgbouncer"},
    "flowdb": {"mode": "container", "image": "postgres:15.8", "hostPort": 5433},
    "scheduler": {"mode": "container", "image": "mysql:8.0.39", "hostPort": 3306},
}


def configs() -> dict[str, Capture]:
    """The configurations whose identities are pinned, by fixture name."""
    return {
        "dev": capture("dev"),
        "prod": capture("prod", **ADMIN_PASSWORDS),
        "shared": capture("dev", langflowPlacement="shared"),
        "extended": capture("dev", services=EXTRA_SERVICE, servers=MAIN_POOLED),
    }


def masked(value: Any) -> Any:
    """The value with every secret replaced by a marker: no password reaches a fixture."""
    if isinstance(value, Secret):
        return SECRET_MARKER
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def identities(result: Capture) -> list[dict[str, Any]]:
    """Each resource's URN, type, parent, masked inputs and what it waits for, in registration order
    (URNs as the mocks make them)."""
    return [
        {
            "urn": r.urn,
            "type": r.type,
            "parent": r.parent,
            "inputs": masked(r.inputs),
            "depends_on": sorted(r.depends_on),
        }
        for r in result.resources
    ]


def fixture_path(name: str) -> Path:
    return FIXTURES / f"urns-before-{name}.json"


def load(name: str) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(fixture_path(name).read_text())
    return loaded


def main() -> None:
    for name, result in configs().items():
        fixture_path(name).write_text(json.dumps(identities(result), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
