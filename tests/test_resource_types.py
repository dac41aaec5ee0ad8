"""Type tokens are named once (resource_types.py), and they are the tokens the program registers."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import resource_types
from components.common import TYPE_PREFIX
from review.capture.program import PROJECT_DIR, Capture

PROVIDER_TOKEN = re.compile(r"\b(postgresql|mysql|docker|random):index/|\bengarde:index\b")
UNREGISTERED = {"PG_GRANT_ROLE"}
"""Tokens the SQL model knows that the program does not register (memberships are in Role.roles)."""


def _code_strings(tree: ast.Module) -> list[tuple[int, str]]:
    """String literals of the module, docstrings left out (they may quote a token as an example)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_no_module_but_resource_types_spells_a_provider_type_token() -> None:
    spelled = []
    for path in sorted(PROJECT_DIR.rglob("*.py")):
        relative = path.relative_to(PROJECT_DIR)
        if relative.parts[0] in ("venv", ".venv"):
            continue
        if relative == Path("resource_types.py"):
            continue
        for line, text in _code_strings(ast.parse(path.read_text(), str(relative))):
            if PROVIDER_TOKEN.search(text):
                spelled.append(f"{relative}:{line}: {text!r}")
    assert spelled == []


def test_the_component_prefix_is_the_programs() -> None:
    assert resource_types.COMPONENT_PREFIX == TYPE_PREFIX


def test_every_token_named_is_one_the_program_registers(
    dev: Capture, prod: Capture, replicated: Capture, cross_reads: Capture
) -> None:
    registered = {r.type for capture in (dev, prod, replicated, cross_reads) for r in capture.resources}
    named = {
        name: value
        for name, value in vars(resource_types).items()
        if name.isupper() and isinstance(value, str) and not name.endswith("_PREFIX") and name != "STACK"
    }
    assert len(named) >= 20
    assert {name for name, token in named.items() if token not in registered} == UNREGISTERED
    assert all(any(t.startswith(prefix) for t in registered) for prefix in (
        resource_types.POSTGRESQL_PREFIX, resource_types.MYSQL_PREFIX, resource_types.PROVIDER_PREFIX
    ))  # fmt: skip
