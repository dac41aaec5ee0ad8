"""review/ reads as its jobs: one package per job, none importing a package above it, the command a
thin dispatcher over them."""

from __future__ import annotations

import ast
from pathlib import Path

from review.capture.program import PROJECT_DIR

REVIEW = PROJECT_DIR / "review"
LEVELS = {"capture": 0, "providers": 1, "audit": 1, "exports": 1, "views": 2, "diff": 3}
"""A package may import one of a lower level (or its own), never one of its level or above."""


def _review_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("review."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "review":
            found.update(alias.name for alias in node.names)
    return found


def test_the_review_folder_holds_only_the_packages_and_the_command() -> None:
    entries = {p.name for p in REVIEW.iterdir() if p.name != "__pycache__"}
    assert entries == {"__init__.py", "__main__.py", *LEVELS}
    assert all((REVIEW / package / "__init__.py").read_text().startswith('"""') for package in LEVELS)


def test_no_package_imports_one_above_or_beside_it() -> None:
    upward = []
    for package, level in LEVELS.items():
        for path in sorted((REVIEW / package).rglob("*.py")):
            for imported in _review_imports(path) - {package}:
                if LEVELS[imported] >= level:
                    upward.append(f"{path.relative_to(PROJECT_DIR)} imports review.{imported}")
    assert upward == []


def test_the_command_line_entry_dispatches_to_the_jobs_and_models_nothing_itself() -> None:
    # The providers' model is reached through the views and the diff, never by the command.
    assert _review_imports(REVIEW / "__main__.py") == set(LEVELS) - {"providers"}
