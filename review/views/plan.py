"""The plan as a reviewer reads it: text (terminal), markdown (PR comment), json, mermaid.

Everything shown comes from the captured program run, read through its `Plan`: the registered
resources and the stack outputs. Secrets are masked by `review.capture.redact` unless the caller asks to
show them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from resource_types import MYSQL_GRANT, PG_GRANT_ROLE, PG_ROLE
from review.capture.plan import Plan, count_by_type, short_type
from review.capture.program import Resource, unwrap_secrets
from review.capture.redact import Redactor
from review.views.budget import budget_markdown_lines, budget_text_lines, budgets, poolers
from review.views.privileges import privileges

NO_ACCESS = "\u2013"
"""An en dash, as in the access matrix of docs/access-model.md: no access."""


# What the views show, as plain data ------------------------------------------------------------


def access_matrix(plan: Plan) -> list[dict[str, str]]:
    """The stack's `accessMatrix` output: one row per (server, database, schema, login role)."""
    rows: list[dict[str, str]] = unwrap_secrets(plan.outputs.get("accessMatrix", []))
    return rows


def servers(plan: Plan) -> dict[str, dict[str, Any]]:
    """Each server's engine, mode, endpoints and database, from the `servers` output."""
    result: dict[str, dict[str, Any]] = {}
    for name, server in unwrap_secrets(plan.outputs.get("servers", {})).items():
        databases = server.get("databases") or []
        result[name] = {
            "engine": server.get("engine"),
            "mode": server.get("mode"),
            "host": server.get("host"),
            "port": server.get("port"),
            "database": databases[0] if databases else None,
            "serviceHost": server.get("serviceHost"),
            "servicePort": server.get("servicePort"),
            **({"replicas": list(server["replicas"])} if server.get("replicas") else {}),
        }
    return result


def dsn_routes(plan: Plan) -> list[dict[str, Any]]:
    """Which hosts each PostgreSQL DSN lists, from the `dsnRoutes` output (no secret in it)."""
    return [dict(row) for row in unwrap_secrets(plan.outputs.get("dsnRoutes", []))]


def _route_rows(plan: Plan) -> list[list[str]]:
    return [
        [
            row["service"],
            row["variable"],
            f"{row['role']}@{row['server']}",
            ",".join(row["hosts"]),
            str(row["via"]),
            " ".join(
                f"{option}={row[key]}"
                for key, option in (
                    ("targetSessionAttrs", "target_session_attrs"),
                    ("loadBalanceHosts", "load_balance_hosts"),
                )
                if row.get(key)
            ),
        ]
        for row in dsn_routes(plan)
    ]


def services(plan: Plan, redactor: Redactor) -> dict[str, dict[str, dict[str, str]]]:
    """Each service's env from the `services` output, secrets masked by `redactor`."""
    raw = unwrap_secrets(plan.outputs.get("services", {}))
    return {
        name: {"env": {key: redactor.text(str(value)) for key, value in (body.get("env") or {}).items()}}
        for name, body in raw.items()
    }


def roles(plan: Plan) -> list[dict[str, Any]]:
    """Every PostgreSQL role the stack creates, with its attributes (provider defaults filled in)."""
    memberships: dict[tuple[str | None, str], list[str]] = {}
    for grant in (r for r in plan.canonical_order if r.type == PG_GRANT_ROLE):
        inputs = unwrap_secrets(grant.inputs)
        key = (plan.server_of(grant), str(inputs["role"]))
        memberships.setdefault(key, []).append(str(inputs["grantRole"]))
    rows = []
    for role in (r for r in plan.canonical_order if r.type == PG_ROLE):
        inputs = unwrap_secrets(role.inputs)
        server = plan.server_of(role)
        name = str(inputs["name"])
        rows.append(
            {
                "server": server,
                "name": name,
                "login": bool(inputs.get("login", False)),
                "superuser": bool(inputs.get("superuser", False)),
                "createdb": bool(inputs.get("createDatabase", False)),
                "createrole": bool(inputs.get("createRole", False)),
                "replication": bool(inputs.get("replication", False)),
                "bypassRls": bool(inputs.get("bypassRowLevelSecurity", False)),
                "inherit": bool(inputs.get("inherit", True)),
                "searchPath": list(inputs.get("searchPaths") or []),
                "connectionLimit": int(inputs.get("connectionLimit", -1)),
                "memberOf": [*(inputs.get("roles") or []), *memberships.get((server, name), [])],
            }
        )
    return rows


def resources(plan: Plan, redactor: Redactor) -> list[dict[str, Any]]:
    """Every registered resource (parents first, siblings by name); inputs in wire format, secrets
    masked by `redactor`.

    A dynamic resource's `__provider` input (its serialized provider code) is left out.
    """
    return [
        {
            "urn": resource.urn,
            "type": resource.type,
            "name": resource.name,
            "parent": resource.parent,
            "inputs": redactor.value({k: v for k, v in resource.inputs.items() if not k.startswith("__")}),
            "dependsOn": sorted(resource.depends_on),
            "provider": resource.provider,
            "protect": resource.protect,
            "retainOnDelete": resource.retain_on_delete,
        }
        for resource in plan.canonical_order
    ]


@dataclass(frozen=True)
class Login:
    """A service logs in to `server` as `role`."""

    service: str
    server: str
    role: str


def logins(plan: Plan) -> list[Login]:
    """Who each service logs in as: the stack's plain `logins` output, which the topology writes."""
    return [Login(row["service"], row["server"], row["role"]) for row in plan.outputs.get("logins", [])]


def mysql_access(plan: Plan) -> list[dict[str, str]]:
    """MySQL grants: (server, database, user, privileges)."""
    rows = []
    for grant in (r for r in plan.canonical_order if r.type == MYSQL_GRANT):
        inputs = unwrap_secrets(grant.inputs)
        rows.append(
            {
                "server": plan.server_of(grant) or "",
                "database": str(inputs["database"]),
                "role": str(inputs["user"]),
                "privileges": ", ".join(str(p) for p in inputs.get("privileges") or []).lower(),
            }
        )
    return rows


# Tables ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Matrix:
    """One server/database's access matrix: login roles by schemas."""

    server: str
    database: str
    schemas: list[str]
    roles: list[str]
    cells: dict[tuple[str, str], str]
    """(role, schema) -> profile"""

    def cell(self, role: str, schema: str) -> str:
        return self.cells.get((role, schema), NO_ACCESS)


def matrices(plan: Plan) -> list[Matrix]:
    """The access matrix split per server and database, schemas in the order their owners appear."""
    return matrices_of(access_matrix(plan))


def matrices_of(access_rows: list[dict[str, str]]) -> list[Matrix]:
    """`access_rows` (the `accessMatrix` output) split per server and database."""
    grouped: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in access_rows:
        grouped.setdefault((row["server"], row["database"]), []).append(row)
    result = []
    for (server, database), rows in grouped.items():
        owned = [row["schema"] for row in rows if row["profile"] == "owner"]
        schemas = list(dict.fromkeys([*owned, *(row["schema"] for row in rows)]))
        role_names = list(dict.fromkeys(row["role"] for row in rows))
        cells = {(row["role"], row["schema"]): row["profile"] for row in rows}
        result.append(Matrix(server, database, schemas, role_names, cells))
    return result


def other_login_roles(plan: Plan, matrix: Matrix) -> list[str]:
    """Login roles on the matrix's server that hold no schema access, e.g. `engarde_monitor (member of pg_monitor)`."""
    lines = []
    for role in roles(plan):
        if role["server"] == matrix.server and role["login"] and role["name"] not in matrix.roles:
            membership = f" (member of {', '.join(role['memberOf'])})" if role["memberOf"] else ""
            replication = " (REPLICATION: the replicas' login)" if role["replication"] else ""
            lines.append(f"{role['name']}{membership}{replication}")
    return lines


def _aligned(rows: list[list[str]], indent: str) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def _matrix_rows(matrix: Matrix) -> list[list[str]]:
    """Header row, then one row per role."""
    rows = [["role", *matrix.schemas]]
    rows += [[role, *(matrix.cell(role, schema) for schema in matrix.schemas)] for role in matrix.roles]
    return rows


def tree_lines(plan: Plan) -> list[str]:
    """The component tree (parent/child by URN), one resource a line."""
    tree = plan.children
    root = plan.stack_urn
    lines = [f"{root.rpartition('::')[2] if root else plan.stack} (pulumi:Stack)"]

    def walk(parent: str | None, prefix: str) -> None:
        kids = tree.get(parent, [])
        for position, resource in enumerate(kids):
            last = position == len(kids) - 1
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{_resource_label(resource)}")
            walk(resource.urn, prefix + ("   " if last else "│  "))

    walk(None, "")
    return lines


def _resource_label(resource: Resource) -> str:
    flags = [flag for flag, on in (("protect", resource.protect), ("retain", resource.retain_on_delete)) if on]
    return f"{resource.name} ({short_type(resource.type)})" + (f" [{', '.join(flags)}]" if flags else "")


def _replicas_cell(server: dict[str, Any]) -> str:
    return f"replicas {', '.join(server['replicas'])}" if server.get("replicas") else ""


def _endpoint(server: dict[str, Any]) -> str:
    return f"{server['host']}:{server['port']}"


def _header(redactor: Redactor) -> str:
    secrets = "shown (--show-secrets)" if redactor.show_secrets else "masked"
    return (
        "the program run offline under Pulumi mocks "
        f"(nothing deployed; generated passwords are fabricated; secrets {secrets})"
    )


# text -----------------------------------------------------------------------------------------


def _counts(resources: list[Resource]) -> list[str]:
    counts = count_by_type(resources)
    width = len(str(counts[0][1])) if counts else 1
    return [f"  {count:>{width}}  {short_type(type_)}" for type_, count in counts]


def render_text(plan: Plan, show_secrets: bool = False, tree: bool = False) -> str:
    """For a terminal: servers, resource and component counts, access matrices, service env; the
    component tree with `tree`."""
    redactor = Redactor(plan, show_secrets)
    lines = [f"Plan for stack {plan.stack}: {_header(redactor)}.", "", "Servers"]
    lines += _aligned(
        [
            [name, s["engine"], s["mode"], _endpoint(s), f"database {s['database']}", _replicas_cell(s)]
            for name, s in servers(plan).items()
        ],
        "  ",
    )
    deployed = [r for r in plan.resources if r.custom]
    components = [r for r in plan.resources if not r.custom]
    lines += ["", f"Resources: {len(deployed)} (what `pulumi up` creates, providers included)"]
    lines += _counts(deployed)
    lines += ["", f"Components: {len(components)} (groups in the resource tree; nothing of their own is deployed)"]
    lines += _counts(components)
    lines += [
        "",
        "Access matrix (login roles by schema; read/write/append through group roles, backup through pg_read_all_data)",
    ]
    for matrix in matrices(plan):
        lines += ["", f"  {matrix.server} / {matrix.database}"]
        lines += _aligned(_matrix_rows(matrix), "    ")
        others = other_login_roles(plan, matrix)
        if others:
            lines.append(f"    also: {'; '.join(others)}")
    heading = ""
    for row in mysql_access(plan):
        if f"  {row['server']} / {row['database']}" != heading:
            heading = f"  {row['server']} / {row['database']}"
            lines += ["", heading]
        lines.append(f"    {row['role']}: {row['privileges']}")
    lines += ["", "Services (env)"]
    for name, body in services(plan, redactor).items():
        lines.append(f"  {name}")
        lines += _aligned([[key, value] for key, value in body["env"].items()], "    ") if body["env"] else []
    routes = _route_rows(plan)
    if routes:
        lines += [
            "",
            "DSN routes (the hosts each PostgreSQL DSN lists; readers prefer a replica, writers never use one)",
        ]
        lines += _aligned(routes, "  ")
    lines += budget_text_lines(plan)
    if tree:
        lines += ["", "Component tree"]
        lines += ["  " + line for line in tree_lines(plan)]
    else:
        lines += ["", "Component tree: add --tree to show it"]
    return "\n".join(lines) + "\n"


# mermaid --------------------------------------------------------------------------------------


class _Ids:
    """Mermaid node ids: readable, unique, never a keyword (`end`)."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, ...], str] = {}

    def __call__(self, *key: str) -> str:
        if key not in self._ids:
            base = "_".join(re.sub(r"[^A-Za-z0-9]", "_", part) for part in key)
            candidate, counter = base, 1
            while candidate in self._ids.values():
                counter += 1
                candidate = f"{base}_{counter}"
            self._ids[key] = candidate
        return self._ids[key]


def _label(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def _access_edge(role: str, target: str, profile: str, label: str | None = None) -> str:
    """Read access dashed, ownership thick, other profiles (write, append, MySQL privileges) plain;
    labelled with the profile unless `label` says more."""
    text = _label(label) if label is not None else profile
    if profile == "read":
        return f"{role} -.->|{text}| {target}"
    if profile == "owner":
        return f"{role} ==>|{text}| {target}"
    return f"{role} -->|{text}| {target}"


def render_mermaid(plan: Plan) -> str:
    """One subgraph per server: its database holding the schemas, and its login roles, each labelled
    with the services that log in as it, drawn to the schemas (MySQL: the database) by profile.

    Services are labels of their roles, not nodes of their own, and a database holds its schemas
    without an edge to each: every edge is an access, none crosses from one server to another, and
    a 20-service stack stays one column of roles and one of schemas per server.
    """
    ids = _Ids()
    lines = ["flowchart LR"]
    matrix_rows, mysql_rows, service_logins = access_matrix(plan), mysql_access(plan), logins(plan)
    for name, server in servers(plan).items():
        lines += _server_subgraph(ids, name, server, matrix_rows, mysql_rows, service_logins)
    return "\n".join(lines) + "\n"


def _server_subgraph(
    ids: _Ids,
    name: str,
    server: dict[str, Any],
    matrix_rows: list[dict[str, str]],
    mysql_rows: list[dict[str, str]],
    service_logins: list[Login],
) -> list[str]:
    """The server's subgraph (database, schemas, login roles), then its access edges."""
    database = str(server["database"])
    matrix_rows = [row for row in matrix_rows if row["server"] == name]
    mysql_rows = [row for row in mysql_rows if row["server"] == name]
    title = f"{name} · {server['engine']} · {server['mode']} · {_endpoint(server)}"
    lines = [
        f"  subgraph {ids('server', name)}[{_label(title)}]",
        "    direction LR",
        f"    subgraph {ids('db', name, database)}[{_label(f'database {database}')}]",
    ]
    schemas = [schema for matrix in matrices_of(matrix_rows) for schema in matrix.schemas]
    lines += [f"      {ids('schema', name, schema)}([{_label(schema)}])" for schema in schemas]
    lines.append("    end")
    services_of: dict[str, list[str]] = {}
    for login in service_logins:
        if login.server == name:
            services_of.setdefault(login.role, []).append(login.service)
    role_names = dict.fromkeys([*(row["role"] for row in [*matrix_rows, *mysql_rows]), *services_of])
    for role in role_names:
        text = role + (f"<br/>{', '.join(services_of[role])}" if role in services_of else "")
        lines.append(f"    {ids('role', name, role)}{{{{{_label(text)}}}}}")
    nodes, edges = _access(ids, name, database, schemas, matrix_rows)
    lines += [*nodes, "  end", *edges]
    for row in mysql_rows:
        user, target = ids("role", name, row["role"]), ids("db", name, row["database"])
        lines.append(f"  {_access_edge(user, target, row['privileges'])}")
    return lines


SHARED_ACCESS = 3
"""A schema's profile held by this many login roles or more is one node naming them (`audit` ·
append, which every service's login holds), with one edge to the schema."""
_NAMES_PER_LINE = 2


def _access(
    ids: _Ids, server: str, database: str, schemas: list[str], rows: list[dict[str, str]]
) -> tuple[list[str], list[str]]:
    """The nodes and edges of one PostgreSQL database's access, collapsed so that it reads at 20 services:

    * a role holding one profile on every schema: one edge to the database (`engarde_backup` backup);
    * a schema's profile held by `SHARED_ACCESS` roles or more: one node naming them, one edge to the schema;
    * any other access: one edge from the role to the schema, labelled with the profile.
    """
    nodes: list[str] = []
    edges: list[str] = []
    schemas_of: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        schemas_of.setdefault((row["role"], row["profile"]), set()).add(row["schema"])
    everywhere = [key for key, held in schemas_of.items() if len(schemas) > 1 and held == set(schemas)]
    for role, profile in everywhere:
        every = f"{profile}, every schema"
        edges.append(f"  {_access_edge(ids('role', server, role), ids('db', server, database), profile, every)}")
    holders: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        if (row["role"], row["profile"]) not in everywhere:
            holders.setdefault((row["schema"], row["profile"]), []).append(row["role"])
    for (schema, profile), roles in holders.items():
        target = ids("schema", server, schema)
        if len(roles) < SHARED_ACCESS:
            edges += [f"  {_access_edge(ids('role', server, role), target, profile)}" for role in roles]
            continue
        shared = ids("access", server, schema, profile)
        lines = [", ".join(roles[i : i + _NAMES_PER_LINE]) for i in range(0, len(roles), _NAMES_PER_LINE)]
        nodes.append(f"    {shared}[{_label('<br/>'.join([f'{len(roles)} roles:', *lines]))}]")
        edges.append(f"  {_access_edge(shared, target, profile)}")
    return nodes, edges


# markdown -------------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    """A table cell shown as code: pipes escaped, backticks fenced safely."""
    fence, pad = ("``", " ") if "`" in text else ("`", "")
    escaped = text.replace("|", "\\|")
    return f"{fence}{pad}{escaped}{pad}{fence}"


def _md_table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def render_markdown(plan: Plan, show_secrets: bool = False) -> str:
    """A PR comment: servers, the diagram, access matrices, services' env, resource counts and tree."""
    redactor = Redactor(plan, show_secrets)
    command = f"python -m review plan --stack {plan.stack} --format markdown"
    lines = [f"## Plan for stack `{plan.stack}`", "", f"`{command}`: {_header(redactor)}.", ""]
    lines += _md_table(
        ["server", "engine", "mode", "endpoint", "database"],
        (
            [name, s["engine"], s["mode"], _md_cell(_endpoint(s)), _md_cell(str(s["database"]))]
            for name, s in servers(plan).items()
        ),
    )
    lines += ["", "### Topology", "", "```mermaid", render_mermaid(plan).rstrip(), "```", "", "### Access matrix"]
    for matrix in matrices(plan):
        lines += ["", f"**{matrix.server}** / `{matrix.database}`", ""]
        lines += _md_table(
            ["role", *matrix.schemas],
            ([f"`{role}`", *(matrix.cell(role, s) for s in matrix.schemas)] for role in matrix.roles),
        )
        others = other_login_roles(plan, matrix)
        if others:
            lines += ["", f"Also: {'; '.join(others)}"]
    for row in mysql_access(plan):
        lines += ["", f"**{row['server']}** / `{row['database']}`: `{row['role']}` has {row['privileges']}"]
    lines += ["", "### Services", ""]
    for name, body in services(plan, redactor).items():
        lines += [f"<details><summary><code>{name}</code> ({len(body['env'])} variables)</summary>", ""]
        lines += _md_table(["variable", "value"], ([f"`{k}`", _md_cell(v)] for k, v in body["env"].items()))
        lines += ["", "</details>", ""]
    routes = _route_rows(plan)
    if routes:
        lines += ["### DSN routes", ""]
        lines += _md_table(
            ["service", "variable", "login", "hosts", "via", "options"],
            ([f"`{r[0]}`", f"`{r[1]}`", f"`{r[2]}`", _md_cell(r[3]), r[4], _md_cell(r[5])] for r in routes),
        )
        lines += [""]
    lines += [*budget_markdown_lines(plan), ""]
    lines += [f"<details><summary>Resources: {len(plan.resources)}</summary>", ""]
    lines += _md_table(["type", "count"], ([f"`{t}`", str(n)] for t, n in count_by_type(plan.resources)))
    lines += ["", "</details>", "", "<details><summary>Component tree</summary>", "", "```text"]
    lines += tree_lines(plan)
    lines += ["```", "", "</details>"]
    return "\n".join(lines) + "\n"


# json -----------------------------------------------------------------------------------------


def plan_document(plan: Plan, show_secrets: bool = False) -> dict[str, Any]:
    """The plan as one JSON-ready object: resources, access matrix, roles, privileges, services' env, servers."""
    redactor = Redactor(plan, show_secrets)
    return {
        "stack": plan.stack,
        "resources": resources(plan, redactor),
        "accessMatrix": access_matrix(plan),
        "roles": roles(plan),
        "privileges": [
            {
                "server": p.server,
                "database": p.database,
                "schema": p.schema,
                "objectType": p.object_type.value,
                "grantee": p.grantee,
                "privilege": p.privilege,
                "defaultFor": p.default_for,
            }
            for p in privileges(plan)
        ],
        "services": services(plan, redactor),
        "servers": servers(plan),
        "dsnRoutes": dsn_routes(plan),
        "connectionBudget": budgets(plan),
        "poolers": poolers(plan, show_secrets),
    }


def render_json(plan: Plan, show_secrets: bool = False) -> str:
    return json.dumps(plan_document(plan, show_secrets), indent=2, ensure_ascii=False) + "\n"
