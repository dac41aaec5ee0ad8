"""What the README and the docs pages name exists: the repository's files, the make targets, the review
subcommands, and the pages and headings their links point to."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_DIR
from tests.documentation import documentation_text, pages

TEXT = documentation_text()
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
FENCED = FENCE.findall(TEXT)
CODE_SPANS = re.findall(r"`([^`\n]+)`", TEXT) + re.findall(r"\]\(([^)#]+)", TEXT) + FENCED
"""Inline code, link targets and fenced blocks: where the pages name files and commands (paths from the
repository's root, as the README gives them)."""
TOP_LEVEL = {path.name for path in PROJECT_DIR.iterdir() if path.name not in {"venv", ".git"}}
LINK = re.compile(r"\]\(([^)\s]+)\)")


def repository_paths() -> set[str]:
    """Every path-like word whose first component is a top-level entry of the repository."""
    words = {word for span in CODE_SPANS for word in re.findall(r"[\w.][\w./-]*", span)}
    return {word.rstrip(".") for word in words if word.split("/")[0] in TOP_LEVEL and word not in TOP_LEVEL}


def heading_anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lowercased, punctuation but `-` and `_` dropped, spaces to `-`."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", page.read_text()), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_every_repository_file_the_pages_name_exists() -> None:
    paths = repository_paths()
    assert len(paths) > 20, "the pages name files of the repository: the pattern no longer finds them"
    missing = sorted(path for path in paths if not (PROJECT_DIR / path).exists())
    assert missing == []


def test_every_link_of_the_pages_reaches_a_file_and_heading() -> None:
    links = [(page, target) for page in pages() for target in LINK.findall(FENCE.sub("", page.read_text()))]
    assert len(links) > 20, "the pages link each other: the pattern no longer finds the links"
    broken = []
    for page, target in links:
        if "://" in target:
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (anchor and anchor not in heading_anchors(linked)):
            broken.append(f"{page.relative_to(PROJECT_DIR)}: {target}")
    assert broken == []


def test_every_make_target_the_pages_name_is_in_the_makefile() -> None:
    makefile = (PROJECT_DIR / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))
    named = {target for span in CODE_SPANS for target in re.findall(r"\bmake ([a-z][\w-]*)", span)}
    assert named and named <= targets, sorted(named - targets)


def test_every_review_subcommand_the_pages_name_exists() -> None:
    usage = subprocess.run(
        [sys.executable, "-m", "review", "--help"], capture_output=True, text=True, check=True, cwd=PROJECT_DIR
    ).stdout
    available = set(re.search(r"\{([a-z,]+)\}", usage).group(1).split(","))  # type: ignore[union-attr]
    named = {
        command for span in CODE_SPANS for command in re.findall(r"(?:python -m review|engarde-review) ([a-z]+)", span)
    }
    assert named and named <= available, sorted(named - available)
