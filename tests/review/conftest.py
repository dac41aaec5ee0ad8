"""`python -m review plan` run in-process, each distinct program run done once per session.

The program takes about a second under mocks; the command is run many times with the same
config (one test per format and per property), so the command's `run_program` is the session's
cached one (tests/conftest.py). The same cached capture is what the command rendered, so tests
can compare output with it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from review import __main__ as cli
from review.capture.plan import Plan
from review.capture.program import Capture
from tests.conftest import cached_run_program

CONFIGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dev": ("dev", ()),
    "prod": ("prod", ()),
    "shared": ("dev", ("langflowPlacement=shared",)),
}
"""Configurations every view is checked with: name -> (stack, --set assignments)."""

FORMATS = ("text", "markdown", "json", "mermaid", "sql")


@pytest.fixture(scope="package", autouse=True)
def _one_program_run_per_config() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "run_program", cached_run_program)
        yield


@dataclass(frozen=True)
class Result:
    """Exit status and output of one command."""

    code: int
    out: str
    err: str


def plan(*argv: str, project_dir: Path | None = None) -> Result:
    """`python -m review plan ARGV...`, in-process."""
    out, err = io.StringIO(), io.StringIO()
    extra = {"project_dir": project_dir} if project_dir is not None else {}
    code = cli.main(["plan", *argv], out=out, err=err, **extra)
    return Result(code, out.getvalue(), err.getvalue())


def argv(config: str, *more: str) -> tuple[str, ...]:
    """The command line of a named configuration, plus `more`."""
    stack, assignments = CONFIGS[config]
    return ("--stack", stack, *(arg for a in assignments for arg in ("--set", a)), *more)


def capture_of(stack: str, *assignments: str) -> Capture:
    """The capture that `plan --stack STACK --set ...` renders."""
    config, _topology = cli.validated_config(stack, list(assignments))
    return cli.capture_stack(config, stack)


def capture_for(config: str) -> Capture:
    stack, assignments = CONFIGS[config]
    return capture_of(stack, *assignments)


def plan_for(config: str) -> Plan:
    """The plan the command renders for a named configuration."""
    return Plan(capture_for(config))
