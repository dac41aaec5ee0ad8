"""A stack diff as a reviewer reads it: text, markdown (PR comment), json, and per-server psql scripts.

Each step shows its operation, resource and changed inputs (names only: values may be secret),
then the SQL it runs on its server; passwords in that SQL are `[secret]` unless asked for. The
stack outputs that change are summarised by service, env variable and output (`outputs`); every
path behind them with `verbose`.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from typing import Any, Protocol

from review.capture.plan import short_type
from review.diff.compute import (
    CREATE,
    CREATE_REPLACEMENT,
    DELETE,
    DELETE_REPLACED,
    IMPORT,
    REPLACE_TARGET,
    UPDATE,
    StackDiff,
    Step,
)
from review.diff.outputs import OutputChange, changed_paths, output_changes
from review.diff.sql import ProviderLifecycle, ServerSql
from review.providers import ServerContext, server_context
from review.views.sql import SecretSource, SqlStep, render_steps, secret_sources

_SYMBOLS = {CREATE: "+", IMPORT: "=>", UPDATE: "~", CREATE_REPLACEMENT: "+-", DELETE_REPLACED: "-+", DELETE: "-"}


@dataclass
class DiffReport:
    """A diff with the SQL of each step, ready to render."""

    stack: str
    base: str
    """What the old side is (`git ref X`, or a description for in-process diffs)."""
    diff: StackDiff
    sql: list[ServerSql | None]
    """Per step, in step order: the SQL it runs, or None."""
    _contexts: dict[str, ServerContext] = field(default_factory=dict, init=False, repr=False)
    _sources: dict[str, list[SecretSource]] = field(default_factory=dict, init=False, repr=False)

    def context(self, server: str) -> ServerContext:
        """Where the server's SQL runs: as the new program leaves it, or the deployed one for a server it drops."""
        if server not in self._contexts:
            plan = self.diff.new if server in self.diff.new.server_components else self.diff.old
            self._contexts[server] = server_context(plan, server)
        return self._contexts[server]

    def secret_sources(self, server: str) -> list[SecretSource]:
        """The server's password variables and their outputs: the new program's first, then the deployed one's."""
        if server not in self._sources:
            plans = (self.diff.new, self.diff.old)
            self._sources[server] = [
                source for plan in plans if server in plan.server_components for source in secret_sources(plan, server)
            ]
        return self._sources[server]

    def summary(self) -> str:
        counts = {op: sum(1 for step in self.diff.steps if step.op == op) for op in _SYMBOLS}
        parts = [
            f"{counts[CREATE]} to create",
            *([f"{counts[IMPORT]} to import"] if counts[IMPORT] else []),
            f"{counts[UPDATE]} to update",
            f"{counts[CREATE_REPLACEMENT]} to replace",
            f"{counts[DELETE]} to delete",
        ]
        return ", ".join(parts)

    def steps_on(self, server: str | None) -> list[tuple[int, Step, ServerSql]]:
        """(1-based step number, step, its SQL) for the steps that run SQL on `server` (any if None)."""
        return [
            (number, step, sql)
            for number, (step, sql) in enumerate(zip(self.diff.steps, self.sql, strict=True), start=1)
            if sql is not None and (server is None or sql.server == server)
        ]


def build_report(stack: str, base: str, diff: StackDiff, lifecycle: ProviderLifecycle) -> DiffReport:
    return DiffReport(stack, base, diff, [lifecycle.sql(step, diff) for step in diff.steps])


def sql_steps_of(report: DiffReport, server: str) -> list[SqlStep]:
    """The server's SQL of the whole diff, in the order the engine runs it (for applying)."""
    return [sql_step for _number, _step, sql in report.steps_on(server) for sql_step in sql.steps]


def _detail(step: Step) -> str:
    if step.op == CREATE_REPLACEMENT:
        why = "--replace" if step.replace_keys == (REPLACE_TARGET,) else ", ".join(step.replace_keys)
        return f"replaces: {why}" + (f"; changed: {', '.join(step.changed)}" if step.changed else "")
    if step.op == UPDATE:
        return "changed: " + ", ".join(step.changed)
    return ""


def _label(step: Step) -> str:
    return f"{short_type(step.type)} {step.name}"


def _sql_lines(report: DiffReport, sql: ServerSql) -> list[str]:
    """Script lines of one step's SQL: `\\connect` to where each statement runs (server-wide ones on the
    provider's own database, as the provider runs them), BEGIN/COMMIT where it uses a transaction."""
    labels = {f"-- {step.resource}" for step in sql.steps}
    lines = [line for line in render_steps(list(sql.steps), report.context(sql.server)) if line]
    # A `\\connect` right before another one changes nothing.
    return [
        line
        for i, line in enumerate(lines)
        if line not in labels and not (_is_connect(line) and i + 1 < len(lines) and _is_connect(lines[i + 1]))
    ]


def _is_connect(line: str) -> bool:
    return line.startswith("\\connect ")


def _without_repeated_connects(lines: list[str]) -> list[str]:
    """A script's lines without a `\\connect` to the database the session is already in."""
    kept: list[str] = []
    current = None
    for line in lines:
        if _is_connect(line):
            if line == current:
                continue
            current = line
        kept.append(line)
    return kept


def changed_outputs(report: DiffReport) -> list[str]:
    """Paths of the stack-output values the change adds, removes or alters (`services.backend.env.DATABASE_URL`)."""
    return changed_paths(report.diff.old.capture.outputs, report.diff.new.capture.outputs)


def outputs_summary(report: DiffReport) -> list[OutputChange]:
    """The stack outputs that change, by service, env variable and output (names only)."""
    return output_changes(report.diff.old.capture.outputs, report.diff.new.capture.outputs)


_OUTPUTS_HEADING = "Stack outputs that change (names only, values not shown)"
_WRAP = 100
"""Text lines of the outputs section wrap here: a PR comment or a terminal shows them whole."""


def _outputs_text(report: DiffReport, verbose: bool) -> list[str]:
    changes = outputs_summary(report)
    if not changes:
        return []
    hint = "" if verbose else "; --verbose lists every path"
    lines = ["", f"{_OUTPUTS_HEADING}{hint}:"]
    for change in changes:
        lines += textwrap.wrap(
            change.describe(), _WRAP, initial_indent="  ", subsequent_indent="      ", break_on_hyphens=False
        )
    if verbose:
        lines += ["", "Output paths that change:", *(f"  {path}" for path in changed_outputs(report))]
    return lines


def _outputs_markdown(report: DiffReport, verbose: bool) -> list[str]:
    changes = outputs_summary(report)
    if not changes:
        return []
    hint = "" if verbose else " (`--verbose` lists every path)"
    lines = ["", f"**{_OUTPUTS_HEADING}**{hint}:", ""]
    lines += [f"- {_md_cell(change.describe())}" for change in changes]
    if verbose:
        paths = changed_outputs(report)
        lines += ["", f"<details><summary>Output paths that change ({len(paths)})</summary>", "", "```text"]
        lines += [*paths, "```", "", "</details>"]
    return lines


def render_text(report: DiffReport, server: str | None = None, verbose: bool = False) -> str:
    diff = report.diff
    if not diff.changed:
        return f"Stack {report.stack}: no changes against {report.base}.\n"
    lines = [f"Stack {report.stack} against {report.base}: {report.summary()}", ""]
    for number, step in enumerate(diff.steps, start=1):
        detail = _detail(step)
        lines.append(
            f"{number:>3}. {_SYMBOLS[step.op]:<2} {step.op:<18} {_label(step)}" + (f"  ({detail})" if detail else "")
        )
    lines += _outputs_text(report, verbose)
    for error in diff.errors:
        lines += ["", f"error: {error}"]
    steps = report.steps_on(server)
    if steps:
        lines += ["", "SQL, in the order the engine runs it:"]
        for number, step, sql in steps:
            lines += ["", f"-- [{number}] {step.op} {_label(step)} on {sql.server}", *_sql_lines(report, sql)]
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(report: DiffReport, server: str | None = None, verbose: bool = False) -> str:
    diff = report.diff
    title = f"### `review diff`: stack {report.stack} against {report.base}"
    if not diff.changed:
        return f"{title}\n\nNo changes: no resource is created, updated, replaced or deleted, and no SQL runs.\n"
    lines = [title, "", report.summary() + ".", ""]
    lines += ["| # | operation | resource | inputs |", "|---:|---|---|---|"]
    for number, step in enumerate(diff.steps, start=1):
        lines.append(f"| {number} | {step.op} | `{_md_cell(_label(step))}` | {_md_cell(_detail(step))} |")
    lines += _outputs_markdown(report, verbose)
    for error in diff.errors:
        lines += ["", f"> **error**: {_md_cell(error)}"]
    steps = report.steps_on(server)
    if steps:
        servers = sorted({sql.server for _n, _s, sql in steps})
        lines += ["", f"<details><summary>SQL of these steps ({', '.join(servers)}), in engine order</summary>", ""]
        lines.append("```sql")
        for number, step, sql in steps:
            lines += [f"-- [{number}] {step.op} {_label(step)} on {sql.server}", *_sql_lines(report, sql), ""]
        lines += ["```", "", "</details>"]
    lines += [
        "",
        "Modelled offline from the providers' source (passwords `[secret]`); `pulumi preview` is authoritative.",
    ]
    return "\n".join(lines) + "\n"


def diff_document(report: DiffReport, server: str | None = None, verbose: bool = False) -> dict[str, Any]:
    """The diff as one JSON-ready object; `changedOutputs` (every output path that changes) with `verbose`."""
    by_step = {number: sql for number, _step, sql in report.steps_on(server)}
    paths = {"changedOutputs": changed_outputs(report)} if verbose else {}
    return {
        "stack": report.stack,
        "base": report.base,
        "changed": report.diff.changed,
        "outputChanges": [change.document() for change in outputs_summary(report)],
        **paths,
        "errors": list(report.diff.errors),
        "steps": [
            {
                "op": step.op,
                "urn": step.urn,
                "type": step.type,
                "name": step.name,
                "changed": list(step.changed),
                "replaceKeys": list(step.replace_keys),
                "protect": _protected(step),
                "sql": None
                if number not in by_step
                else {
                    "server": by_step[number].server,
                    "steps": [
                        {"database": s.database, "statements": list(s.statements), "transaction": s.transaction}
                        for s in by_step[number].steps
                    ],
                },
            }
            for number, step in enumerate(report.diff.steps, start=1)
        ],
    }


def _protected(step: Step) -> bool:
    resource = step.old or step.new
    return resource is not None and resource.protect


def render_json(report: DiffReport, server: str | None = None, verbose: bool = False) -> str:
    return json.dumps(diff_document(report, server, verbose), indent=2) + "\n"


def render_sql(report: DiffReport, server: str | None = None, verbose: bool = False) -> str:
    """One psql script per server (its section), each step under a comment naming it (`verbose`: no
    difference; the script holds no outputs)."""
    names = [server] if server is not None else _servers(report)
    sections = [f"-- Stack {report.stack} against {report.base}: the SQL of each step, per server, in engine order."]
    for name in names:
        steps = report.steps_on(name)
        sections.append(f"-- {'=' * 77}\n-- Server {name}: {len(steps)} step(s)")
        if not steps:
            continue
        body = _variable_sources(report, name, steps)
        for number, step, sql in steps:
            body += ["", f"-- [{number}] {step.op} {_label(step)}", *_sql_lines(report, sql)]
        sections.append("\n".join(_without_repeated_connects(body)))
    return "\n".join(sections) + "\n"


def _servers(report: DiffReport) -> list[str]:
    new = report.diff.new.server_names()
    return new + [name for name in report.diff.old.server_names() if name not in new]


def _variable_sources(report: DiffReport, server: str, steps: list[tuple[int, Step, ServerSql]]) -> list[str]:
    """Header lines: each password variable the steps use, and the stack output that holds its value."""
    text = "\n".join(line for _n, _s, sql in steps for line in _sql_lines(report, sql))
    lines: list[str] = []
    listed: set[str] = set()
    for source in report.secret_sources(server):
        reference = f":'{source.variable}'" if ":'" in text else "${" + source.variable + "}"
        if reference in text and source.variable not in listed:
            listed.add(source.variable)
            lines.append(f"--   {source.variable}: {source.describe()}")
    if not lines:
        return []
    return ["-- Passwords are variables; after `pulumi up`, `pulumi stack output --json --show-secrets` holds:", *lines]


class Renderer(Protocol):
    def __call__(self, report: DiffReport, server: str | None = None, verbose: bool = False) -> str: ...


FORMATS: dict[str, Renderer] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
    "sql": render_sql,
}
