"""`python -m review plan` run in-process, each distinct program run done once per session.

The program takes about a second under mocks; the command is run many times with the same
config (one test per format and per property), so `run_program` is cached by its arguments.
The same cached capture is what the command rendered, so tests can compare output with it.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from review import __main__ as cli
from review.capture import Capture, run_program

CONFIGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dev": ("dev", ()),
    "prod": ("prod", ()),
    "shared": ("dev", ("langflowPlacement=shared",)),
}
"""Configurations every view is checked with: name -> (stack, --set assignments)."""

FORMATS = ("text", "markdown", "json", "mermaid", "sql")


@functools.cache
def _run_once(stack: str, config_json: str, secret_keys: tuple[str, ...]) -> Capture:
    return run_program(json.loads(config_json), stack, secret_keys=secret_keys)


def cached_run_program(
    config: Mapping[str, Any], stack: str, *, secret_keys: tuple[str, ...] = (), program: Path | None = None
) -> Capture:
    """`run_program`, once per distinct (stack, config, secret keys)."""
    assert program is None
    return _run_once(stack, json.dumps(dict(config), sort_keys=True), tuple(secret_keys))


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
