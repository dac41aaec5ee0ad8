"""The project's documentation: README.md, the front page, and the pages under docs/ it links to.

Tests that hold the documentation to the code read it through here, so a text moved from one page to
another is still checked.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PROJECT_DIR

FRONT_PAGE = PROJECT_DIR / "README.md"
DOCS_DIR = PROJECT_DIR / "docs"


def pages() -> list[Path]:
    """README.md, then every page under docs/."""
    return [FRONT_PAGE, *sorted(DOCS_DIR.glob("*.md"))]


def documentation_text() -> str:
    """Every page's text, one after another."""
    return "\n".join(page.read_text() for page in pages())
