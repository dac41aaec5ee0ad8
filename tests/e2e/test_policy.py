"""The policy pack (policy/) through the real engine: `pulumi preview --policy-pack policy`.

A preview from nothing connects to no server, so these stacks point at a closed port. The engine
runs the pack as it does for a user (the pack's own Python, from policy/PulumiPolicy.yaml).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pulumi import automation as auto

from tests.e2e.engine import EngineStack, engine_stack
from tests.realdb.conftest import UNUSED_SCHEDULER

PLUGINS = ("postgresql", "mysql", "random")
ELEVATED_ROLE = ("            create_role=False,\n", '            create_role=role.name == "engarde_app",\n')
TWIN_GRANT = (
    "        opts=opts,\n    )\n    return resource\n\n\nclass AccessGroup",
    "        opts=opts,\n    )\n"
    '    if name == "main-madansara_read-tables":\n'
    '        postgresql.Grant(name + "-twin", database=database, schema=schema, role=role,\n'
    "                         object_type=object_type, objects=[], privileges=names, opts=opts)\n"
    "    return resource\n\n\nclass AccessGroup",
)


def external(protect: bool) -> dict[str, Any]:
    def server(database: str, port: int) -> dict[str, Any]:
        # Closed ports, one per server as config requires (the scheduler has UNUSED_SCHEDULER's 9).
        return {"mode": "external", "host": "127.0.0.1", "port": port, "database": database, "adminUser": "postgres",
                "sslmode": "disable", "superuser": True, "version": 15, "maxConnections": 200}  # fmt: skip

    return {
        "runContainers": False,
        "protect": protect,
        "servers": {
            "main": server("engarde", 7),
            "flowdb": server("langflow", 11),
            "scheduler": {"mode": "external", "database": "easyappointments", "sslmode": "disable", **UNUSED_SCHEDULER},
        },
        "mainAdminPassword": "main-admin-password-x",
        "flowdbAdminPassword": "flowdb-admin-password-y",
        "schedulerAdminPassword": "scheduler-admin-password-z",
    }


@contextmanager
def policy_stack(name: str, config: dict[str, Any], edit: tuple[str, str, str] | None = None) -> Iterator[EngineStack]:
    """A stack of the program (edited: `edit` = (file, old, new)) with `config`, not yet up."""
    with engine_stack(name, None, *PLUGINS) as engine:
        engine.configure(config)
        if edit is not None:
            path = engine.program_dir / edit[0]
            source = path.read_text()
            assert source.count(edit[1]) == 1, f"{edit[0]} changed: the edit no longer applies"
            path.write_text(source.replace(edit[1], edit[2]))
        yield engine


def preview_with_pack(engine: EngineStack) -> auto.PreviewResult:
    return engine.stack.preview(policy_packs=[str(engine.program_dir / "policy")])


@pytest.mark.parametrize(("stack", "protect"), [("dev", False), ("prod", True)])
def test_the_committed_layout_passes_the_pack(stack: str, protect: bool) -> None:
    with policy_stack(stack, external(protect)) as engine:
        result = preview_with_pack(engine)
    assert "Loading policy packs...: done" in result.stdout
    assert "mandatory" not in result.stdout


BAD = {
    "prod without protect": ("prod", False, None, "protect-stateful-resources", "Role 'main-engarde_app'"),
    "a login role with CREATEROLE": (
        "dev", False, ("components/roles.py", *ELEVATED_ROLE), "no-elevated-login-roles", "engarde_app",
    ),
    "two grants on one key": (
        "dev", False, ("components/access.py", *TWIN_GRANT), "one-resource-per-privilege-key", "madansara_read",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_layout_fails_the_preview_naming_the_policy(case: str) -> None:
    stack, protect, edit, policy, detail = BAD[case]
    with policy_stack(stack, external(protect), edit) as engine, pytest.raises(auto.CommandError) as failure:
        preview_with_pack(engine)
    report = str(failure.value)
    assert f"[mandatory]  {policy}" in report
    assert detail in report
