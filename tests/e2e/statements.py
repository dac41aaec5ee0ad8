"""What a real PostgreSQL server ran, read from its statement log, in the SQL model's terms.

The servers log every statement (`log_statement=all`, csvlog). A window of the log (between two
markers the test writes) is read back as *units*: the statements of one transaction of one session,
or one statement run outside a transaction. Each statement is parsed with pglast and printed back in
its canonical form, with role passwords masked, so the provider's text and the model's compare as
parse trees. The provider's own catalog reads (SELECT, SHOW) are set apart: the model renders what
changes the server, `review.providers.refresh` models the reads.

The model's side is the same shape: a `review.providers.lifecycle.SqlStep` in a transaction is one unit
(BEGIN, its statements, COMMIT), a step outside one is a unit per statement.
"""

from __future__ import annotations

import csv
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pglast
import psycopg
from pglast import ast
from pglast.stream import RawStream

from review.providers import SqlStep
from tests.realdb.servers import RunningServer

MASKED = "<password>"
USER, DATABASE, SESSION, SEVERITY, MESSAGE = 1, 2, 5, 11, 13
"""Columns of PostgreSQL's csvlog."""
MARKER = "engarde-e2e-marker"
READS = (ast.SelectStmt, ast.VariableShowStmt)
TRANSACTION_END = ("COMMIT", "ROLLBACK")

Unit = tuple[str, ...]
"""The canonical statements of one transaction (BEGIN ... COMMIT) or of one statement on its own."""


@dataclass(frozen=True)
class Logged:
    """One statement the server logged."""

    session: str
    user: str
    database: str
    text: str


def _statement_text(message: str) -> str | None:
    for prefix in ("statement: ", "execute "):
        if message.startswith(prefix):
            text = message[len(prefix) :]
            if prefix == "execute ":  # `execute <unnamed>: SELECT ...` (the extended protocol)
                text = text.split(": ", 1)[1]
            return text
    return None


def read_log(path: Path) -> list[Logged]:
    with path.open(newline="") as log:
        rows = list(csv.reader(log))
    logged = []
    for row in rows:
        if row[SEVERITY] != "LOG":
            continue
        text = _statement_text(row[MESSAGE])
        if text is not None:
            logged.append(Logged(row[SESSION], row[USER], row[DATABASE], text))
    return logged


def _mask(node: Any) -> Any:
    """The node with every role password replaced by MASKED (CREATE/ALTER ROLE ... PASSWORD)."""
    if isinstance(node, ast.CreateRoleStmt | ast.AlterRoleStmt):
        for option in node.options or ():
            if option.defname == "password" and option.arg is not None:
                option.arg = ast.String(sval=MASKED)
    return node


def canonical(statement: str) -> list[str]:
    """The statements in `statement` (one, mostly), parsed and printed back, passwords masked."""
    return [RawStream()(_mask(raw.stmt)) for raw in pglast.parse_sql(statement)]


def is_read(statement: str) -> bool:
    return all(isinstance(raw.stmt, READS) for raw in pglast.parse_sql(statement))


def _is_begin(statement: str) -> bool:
    return statement.startswith(("BEGIN", "START TRANSACTION"))


Placed = tuple[str, Unit]
"""(the database it ran on, the unit)"""


def units_of_log(logged: Iterable[Logged], user: str) -> list[Placed]:
    """The units the `user` ran that change something, in the order their first statement reached the server.

    A transaction holding only reads (the provider's `BEGIN; SET statement_timeout TO 0; ... ROLLBACK`
    around a Read) changes nothing and is left out, as are the reads inside the others.
    """
    open_units: dict[str, list[str]] = {}
    units: list[tuple[int, str, Unit]] = []
    started: dict[str, int] = {}
    for position, entry in enumerate(logged):
        if entry.user != user or not entry.text.strip(" ;"):
            continue
        for statement in canonical(entry.text):
            if _is_begin(statement):
                open_units[entry.session] = ["BEGIN"]
                started[entry.session] = position
            elif entry.session in open_units:
                open_units[entry.session].append(statement)
                if statement in TRANSACTION_END:
                    units.append((started.pop(entry.session), entry.database, tuple(open_units.pop(entry.session))))
            else:
                units.append((position, entry.database, (statement,)))
    kept: list[Placed] = []
    for _, database, unit in sorted(units, key=lambda item: item[0]):
        if unit[-1] == "ROLLBACK":
            continue
        changes = tuple(statement for statement in unit if not is_read(statement))
        if changes and changes not in (("BEGIN", "COMMIT"), ("COMMIT",)):
            kept.append((database, changes))
    return kept


def units_of_model(steps: Sequence[SqlStep], default_database: str) -> list[tuple[SqlStep, Placed]]:
    """Each step's units, in the steps' order, on the database it runs on."""
    units: list[tuple[SqlStep, Placed]] = []
    for step in steps:
        database = step.database or default_database
        statements = [canonical_statement for text in step.statements for canonical_statement in canonical(text)]
        if step.transaction:
            units.append((step, (database, ("BEGIN", *statements, "COMMIT"))))
        else:
            units.extend((step, (database, (statement,))) for statement in statements)
    return units


def unit_differences(logged: Sequence[Placed], modelled: Sequence[Placed]) -> list[str]:
    """What the server ran that the model does not render, and the reverse, one line per unit."""
    ran, rendered = Counter(logged), Counter(modelled)
    lines = []
    for label, extra in (("ran, not modelled", ran - rendered), ("modelled, not run", rendered - ran)):
        lines += [f"{label}, on {db}: {' '.join(unit)}" for (db, unit), n in extra.items() for _ in range(n)]
    return lines


@contextmanager
def log_window(server: RunningServer) -> Iterator[list[Logged]]:
    """The statements the server logs while the block runs (filled in when it ends)."""
    assert server.statement_log is not None, "the server was started without log_statements"
    window: list[Logged] = []
    begin = _mark(server)
    yield window
    end = _mark(server)
    logged = read_log(server.statement_log)
    texts = [entry.text for entry in logged]
    first = next(i for i, text in enumerate(texts) if begin in text)
    last = next(i for i, text in enumerate(texts) if end in text)
    window.extend(logged[first + 1 : last])


def _mark(server: RunningServer) -> str:
    """Log a marker statement and wait until the log collector has written it."""
    assert server.statement_log is not None
    marker = f"{MARKER} {uuid.uuid4()}"
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        connection.execute(f"SELECT '{marker}'")
    deadline = time.monotonic() + 10
    while marker not in server.statement_log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise AssertionError(f"the marker never reached {server.statement_log}")
        time.sleep(0.05)
    return marker
