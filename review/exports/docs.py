"""The generated parts of docs/access-model.md: the access matrix and the env contract, from the topology.

`python -m review.exports.docs` rewrites each block between `<!-- generated: NAME -->` and
`<!-- end: NAME -->`; `python -m review.exports.docs --check` exits 1 when the file is stale (the test
suite runs the check, so the page cannot drift from the code).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from review.capture.config_files import stack_values
from topology import Topology, load_topology
from topology.model import EnvValue, GeneratedSecret, PostgresUrl, RedisUrl, RolePassword, Text

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "access-model.md"
NO_ACCESS = "\u2013"


def _stack_topology(placement: str) -> Topology:
    return load_topology(stack_values("dev").values | {"langflowPlacement": placement}, "dev")


def access_matrix_table(topology: Topology) -> str:
    """One markdown table per PostgreSQL server: login roles down, schemas across, profiles in the cells."""
    lines: list[str] = []
    for layout in topology.layouts.values():
        if not layout.access:
            continue
        schemas = [s.name for s in layout.schemas]
        roles = list(dict.fromkeys(cell.role for cell in layout.access))
        cells = {(cell.role, cell.schema): cell.profile.value for cell in layout.access}
        lines += [f"**{layout.name}** (database `{layout.server.database}` in dev)", ""]
        lines.append("| role | " + " | ".join(f"`{s}`" for s in schemas) + " |")
        lines.append("|---|" + "---|" * len(schemas))
        for role in roles:
            row = [cells.get((role, schema), NO_ACCESS) for schema in schemas]
            lines.append(f"| `{role}` | " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _describe(value: EnvValue) -> str:
    if isinstance(value, Text):
        return f"`{value.value}`" if value.value else "(empty)"
    if isinstance(value, PostgresUrl):
        path = f", search_path `{','.join(value.search_path)}`" if value.search_path else ""
        via = " through its pooler" if value.pooled else ""
        return f"DSN: `{value.role}` on {value.server}{path}{via}"
    if isinstance(value, RolePassword):
        return f"password of `{value.role}` on {value.server}"
    if isinstance(value, GeneratedSecret):
        return f"generated secret `{value.name}`"
    if isinstance(value, RedisUrl):
        return f"Redis URL with the generated password, database {value.database}"
    raise TypeError(f"unknown env value {value!r}")


def env_contract_table(topology: Topology) -> str:
    """Every service's variables: what each holds (secrets named, never shown)."""
    lines = ["| service | variable | value |", "|---|---|---|"]
    for service in topology.services:
        for name, value in service.env.items():
            lines.append(f"| `{service.name}` | `{name}` | {_describe(value)} |")
    return "\n".join(lines) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "access-matrix-dedicated": lambda: access_matrix_table(_stack_topology("dedicated")),
    "access-matrix-shared": lambda: access_matrix_table(_stack_topology("shared")),
    "env-contract": lambda: env_contract_table(_stack_topology("dedicated")),
}


def render(page: str) -> str:
    """`page` with every generated block rewritten."""
    for name, generate in GENERATORS.items():
        pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(<!-- end: {name} -->)", re.DOTALL)
        match = pattern.search(page)
        if match is None:
            raise ValueError(f"{DOCS_PAGE.name} has no block {name!r}")
        head, tail = match.span(1)[1], match.span(2)[0]
        page = page[:head] + generate() + page[tail:]
    return page


def main(argv: list[str]) -> int:
    current = DOCS_PAGE.read_text()
    wanted = render(current)
    if "--check" in argv:
        if wanted != current:
            print(f"{DOCS_PAGE} is stale: run `python -m review.exports.docs`", file=sys.stderr)
            return 1
        return 0
    DOCS_PAGE.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
