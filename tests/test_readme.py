"""Every URN the README shows names a resource the program registers (as the engine names it)."""

from __future__ import annotations

import re

from tests.components.urns import EngineUrns, nodes_of
from tests.conftest import ADMIN_PASSWORDS, PROJECT_DIR, capture

URN = re.compile(r"urn:pulumi:[^\s'\"`)]+")


def readme_urns() -> list[str]:
    return URN.findall((PROJECT_DIR / "README.md").read_text())


def test_the_readme_shows_urns() -> None:
    assert readme_urns()


def test_every_readme_urn_is_a_resource_of_its_stack() -> None:
    for urn in readme_urns():
        stack = urn.removeprefix("urn:pulumi:").split("::")[0]
        result = capture(stack, **(ADMIN_PASSWORDS if stack == "prod" else {}))
        urns = EngineUrns(nodes_of(result))
        assert urn in {urns.urn(node) for node in nodes_of(result)}, urn
