"""The connection budget of each PostgreSQL server and its PgBouncer configuration, as the plan shows them.

Both come from the stack outputs: `connectionBudget` (plain) and the `pgbouncer-<server>` entries
of `services` (the pgbouncer.ini is plain; its auth file holds SCRAM verifiers and stays masked).
"""

from __future__ import annotations

from typing import Any

from review.capture.plan import Plan
from review.capture.program import unwrap_secrets
from review.capture.redact import MASK
from topology.pgbouncer import AUTH_FILE, CONFIG_FILE, pooler_service_name

POOLER_PREFIX = pooler_service_name("")


def budgets(plan: Plan) -> dict[str, dict[str, Any]]:
    """server -> {maxConnections, used, headroom, lines: [{who, key, connections}]}."""
    result: dict[str, dict[str, Any]] = unwrap_secrets(plan.outputs.get("connectionBudget", {}))
    return result


def poolers(plan: Plan, show_secrets: bool = False) -> dict[str, dict[str, Any]]:
    """server -> {image, config (pgbouncer.ini), authFile (masked unless shown)}."""
    found: dict[str, dict[str, Any]] = {}
    for name, body in unwrap_secrets(plan.outputs.get("services", {})).items():
        if not name.startswith(POOLER_PREFIX) or "files" not in body:
            continue
        files = body["files"]
        found[name.removeprefix(POOLER_PREFIX)] = {
            "image": body.get("image"),
            "config": files[CONFIG_FILE],
            "authFile": files[AUTH_FILE] if show_secrets else MASK,
        }
    return found


def _rows(budget: dict[str, Any]) -> list[list[str]]:
    rows = [[line["who"], line["key"] or "(fixed)", str(line["connections"])] for line in budget["lines"]]
    rows.append(["total", "", f"{budget['used']} of max_connections {budget['maxConnections']}"])
    rows.append(["headroom", "", str(budget["headroom"])])
    return rows


def budget_text_lines(plan: Plan) -> list[str]:
    lines = ["", "Connection budget (CONNECTION LIMIT per login role; must fit max_connections)"]
    for server, budget in budgets(plan).items():
        lines += ["", f"  {server}"]
        rows = [["who", "config key", "connections"], *_rows(budget)]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines += ["    " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    for server, pooler in poolers(plan).items():
        lines += ["", f"PgBouncer for {server} ({pooler['image']}): {CONFIG_FILE}"]
        lines += ["    " + line for line in str(pooler["config"]).splitlines()]
    return lines


def budget_markdown_lines(plan: Plan) -> list[str]:
    lines = ["", "### Connection budget"]
    for server, budget in budgets(plan).items():
        lines += ["", f"**{server}**: {budget['used']} of max_connections {budget['maxConnections']}, "
                      f"headroom {budget['headroom']}", ""]  # fmt: skip
        lines += ["| who | config key | connections |", "|---|---|---|"]
        lines += [f"| {who} | `{key}` | {n} |" for who, key, n in _rows(budget)[:-2]]
    for server, pooler in poolers(plan).items():
        lines += ["", f"<details><summary>PgBouncer for {server} (<code>{CONFIG_FILE}</code>)</summary>", ""]
        lines += ["```ini", str(pooler["config"]).rstrip(), "```", "", "</details>"]
    return lines


def render_pgbouncer(plan: Plan, server: str | None) -> str:
    """The pgbouncer.ini of one server's pooler, as a platform deploys it."""
    found = poolers(plan)
    if not found:
        raise ValueError("no server of this stack has a pooler (set servers.<name>.pooler to pgbouncer)")
    if server is None:
        if len(found) > 1:
            raise ValueError(f"--server is required: poolers on {', '.join(found)}")
        server = next(iter(found))
    if server not in found:
        raise ValueError(f"--server {server}: no pooler on that server (poolers on {', '.join(found)})")
    return str(found[server]["config"])
