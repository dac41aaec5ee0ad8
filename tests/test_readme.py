"""What the README and the docs pages show is true: every URN names a resource the program registers (as
the engine names it), every review command they show is accepted, every `make` target they name exists."""

from __future__ import annotations

import re

import pytest

from review.__main__ import _parser as review_parser
from tests.components.urns import EngineUrns, nodes_of
from tests.conftest import ADMIN_PASSWORDS, PROJECT_DIR, capture
from tests.documentation import FRONT_PAGE, documentation_text

URN = re.compile(r"urn:pulumi:[^\s'\"`)]+")


def documented_urns() -> list[str]:
    return URN.findall(documentation_text())


def test_the_documentation_shows_urns() -> None:
    assert documented_urns()


def test_every_documented_urn_is_a_resource_of_its_stack() -> None:
    for urn in documented_urns():
        stack = urn.removeprefix("urn:pulumi:").split("::")[0]
        result = capture(stack, **(ADMIN_PASSWORDS if stack == "prod" else {}))
        urns = EngineUrns(nodes_of(result))
        assert urn in {urns.urn(node) for node in nodes_of(result)}, urn


DOCUMENTED_COMMANDS = (
    "venv/bin/engarde-review plan --stack dev",
    "engarde-review env --from outputs.json --out ./env",
    "engarde-review env --from outputs.json --service backend",
    "engarde-review env --from outputs.json --service backend --format json",
    "python -m review plan --stack S --format sql --secrets-from outputs.json",
    "python -m review alerts --stack S",
)
"""Review commands the README and the docs pages show, word for word: each is shown and the command accepts it."""


@pytest.mark.parametrize("command", DOCUMENTED_COMMANDS)
def test_every_review_command_the_documentation_shows_is_accepted(command: str) -> None:
    assert command in documentation_text()
    words = command.split()
    arguments = words[words.index("review") + 1 :] if "review" in words else words[1:]
    parser = review_parser()
    parsed = parser.parse_args(arguments)  # exits (SystemExit) on an argument the command refuses
    assert parsed.command == arguments[0]


def test_every_make_target_the_documentation_names_exists() -> None:
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", (PROJECT_DIR / "Makefile").read_text(), re.MULTILINE))
    text = documentation_text()
    named = set(re.findall(r"`make ([a-z][a-z0-9-]*)", text)) | set(
        re.findall(r"^make ([a-z][a-z0-9-]*)", text, re.MULTILINE)
    )
    assert named - targets == set()


def test_the_readme_setup_paragraph_is_make_deps() -> None:
    """The one prerequisites step (scripts/deps), as the README's setup paragraph gives it."""
    setup = FRONT_PAGE.read_text().split("```sh\n", 2)[2].split("```", 1)[0]
    assert setup.split("#", 1)[0].strip() == "make deps"
    assert "scripts/deps" in (PROJECT_DIR / "Makefile").read_text()
