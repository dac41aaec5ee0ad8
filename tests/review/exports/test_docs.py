"""docs/access-model.md: its generated tables are what the code builds."""

from __future__ import annotations

from review.exports.docs import DOCS_PAGE, main, render
from tests.expected import DEDICATED_MATRIX


def test_the_docs_page_is_up_to_date_with_the_code() -> None:
    assert main(["--check"]) == 0


def test_a_stale_table_is_rewritten_from_the_topology() -> None:
    page = DOCS_PAGE.read_text()
    stale = page.replace("| `langflow_reader` | read |", "| `langflow_reader` | owner |", 1)
    assert stale != page
    assert render(stale) == page


def test_the_page_shows_the_documented_access_matrix_cell_by_cell() -> None:
    block = DOCS_PAGE.read_text().split("<!-- generated: access-matrix-dedicated -->")[1].split("<!-- end")[0]
    cells: dict[tuple[str, str, str], str] = {}
    # "**main** (database ...)" then its table: the server names alternate with what follows them.
    parts = block.split("**")[1:]
    for server, table in zip(parts[0::2], parts[1::2], strict=True):
        header, _rule, *rows = [line for line in table.splitlines() if line.startswith("|")]
        schemas = [cell.strip(" `") for cell in header.split("|")[2:-1]]
        for row in rows:
            role, *profiles = [cell.strip(" `") for cell in row.split("|")[1:-1]]
            for schema, profile in zip(schemas, profiles, strict=True):
                if profile != "\u2013":
                    cells[(server, schema, role)] = profile
    assert cells == DEDICATED_MATRIX
