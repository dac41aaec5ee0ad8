"""What README.md names exists: the repository's files, the make targets, the review subcommands."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import PROJECT_DIR

README = (PROJECT_DIR / "README.md").read_text()
FENCED = re.findall(r"^```[a-z]*\n(.*?)^```", README, re.MULTILINE | re.DOTALL)
CODE_SPANS = re.findall(r"`([^`\n]+)`", README) + re.findall(r"\]\(([^)#]+)", README) + FENCED
"""Inline code, link targets and fenced blocks: where the README names files and commands."""
TOP_LEVEL = {path.name for path in PROJECT_DIR.iterdir() if path.name not in {"venv", ".git"}}


def repository_paths() -> set[str]:
    """Every path-like word whose first component is a top-level entry of the repository."""
    words = {word for span in CODE_SPANS for word in re.findall(r"[\w.][\w./-]*", span)}
    return {word.rstrip(".") for word in words if word.split("/")[0] in TOP_LEVEL and word not in TOP_LEVEL}


def test_every_repository_file_the_readme_names_exists() -> None:
    paths = repository_paths()
    assert len(paths) > 20, "the README names files of the repository: the pattern no longer finds them"
    missing = sorted(path for path in paths if not (PROJECT_DIR / path).exists())
    assert missing == []


def test_every_make_target_the_readme_names_is_in_the_makefile() -> None:
    makefile = (PROJECT_DIR / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))
    named = {target for span in CODE_SPANS for target in re.findall(r"\bmake ([a-z][\w-]*)", span)}
    assert named and named <= targets, sorted(named - targets)


def test_every_review_subcommand_the_readme_names_exists() -> None:
    usage = subprocess.run(
        [sys.executable, "-m", "review", "--help"], capture_output=True, text=True, check=True, cwd=PROJECT_DIR
    ).stdout
    available = set(re.search(r"\{([a-z,]+)\}", usage).group(1).split(","))  # type: ignore[union-attr]
    named = {
        command for span in CODE_SPANS for command in re.findall(r"(?:python -m review|engarde-review) ([a-z]+)", span)
    }
    assert named and named <= available, sorted(named - available)
