"""The state edit that upgrades a stack deployed with GrantRole memberships (docs/operations.md)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from resource_types import CONTAINER
from tests.conftest import PROJECT_DIR
from tests.graph import GRANT_ROLE, ROLE
from tests.prerequisites import missing_prerequisite


def runbook_jq_program() -> str:
    """The jq filter of the runbook's upgrade step, exactly as a user copies it."""
    runbook = (PROJECT_DIR / "docs" / "operations.md").read_text()
    section = runbook.split("## Upgrading a stack deployed with `GrantRole` memberships", 1)[1]
    match = re.search(r"^jq '(.*?)' state\.json > upgraded\.json$", section, re.S | re.M)
    assert match, "the runbook's upgrade step has no jq command"
    return match.group(1)


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:prod::engarde::{type_}::{name}"


def test_runbook_state_edit_drops_grant_roles_and_only_references_to_them(tmp_path: Path) -> None:
    if shutil.which("jq") is None:
        missing_prerequisite("jq (the upgrade step in docs/operations.md)")
    login, group = urn(ROLE, "main-madansara_user"), urn(ROLE, "main-audit_append")
    membership = urn(GRANT_ROLE, "main-audit_append-madansara_user")
    container = urn(CONTAINER, "madan-sara")
    state = {
        "version": 3,
        "deployment": {
            "manifest": {},
            "resources": [
                {"urn": login, "type": ROLE},
                {"urn": group, "type": ROLE},
                {"urn": membership, "type": GRANT_ROLE, "dependencies": [login, group],
                 "propertyDependencies": {"role": [login], "grantRole": [group]}},
                {"urn": container, "type": CONTAINER, "dependencies": [login, membership],
                 "propertyDependencies": {"envs": [login]}},
            ],
        },
    }  # fmt: skip
    (tmp_path / "state.json").write_text(json.dumps(state))
    result = subprocess.run(
        ["jq", runbook_jq_program(), "state.json"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    upgraded = json.loads(result.stdout)
    resources = {r["urn"]: r for r in upgraded["deployment"]["resources"]}
    assert set(resources) == {login, group, container}
    assert resources[container]["dependencies"] == [login]
    assert resources[container]["propertyDependencies"] == {"envs": [login]}
    assert upgraded["deployment"]["manifest"] == {} and upgraded["version"] == 3
