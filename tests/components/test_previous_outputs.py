"""The program reads its stack's previous outputs before registering anything, trying again while the file
backend rewrites the checkpoint, and stops in one line when it cannot."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from review.capture.program import READ_STACK_OUTPUTS, FabricatingMocks, run_program
from tests.conftest import stack_file_config
from tests.topology.test_upgrades import on, recorded


def failing_reads(monkeypatch: pytest.MonkeyPatch, failures: int) -> list[str]:
    """The mocks' stack-output reads fail `failures` times, as the engine does on a half-written checkpoint."""
    calls: list[str] = []
    answer = FabricatingMocks.call

    def call(self: FabricatingMocks, args: pulumi.runtime.MockCallArgs) -> Any:
        if args.token == READ_STACK_OUTPUTS:
            calls.append(args.args["name"])
            if len(calls) <= failures:
                return {}, [("name", "failed to load checkpoint: EOF")]
        return answer(self, args)

    monkeypatch.setattr(FabricatingMocks, "call", call)
    monkeypatch.setattr("components.previous_outputs.time.sleep", lambda _: None)
    return calls


def test_a_failed_read_is_tried_again_and_its_outputs_count(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = failing_reads(monkeypatch, failures=2)
    with pytest.raises(pulumi.RunError, match="runs PostgreSQL 17, but its data volume holds PostgreSQL 15's"):
        run_program({**stack_file_config("dev"), **on("postgres:17.2")}, "dev", deployed_outputs=recorded("15"))
    assert calls == ["organization/engarde/dev"] * 3


def test_reads_that_keep_failing_stop_the_program_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = failing_reads(monkeypatch, failures=99)
    with pytest.raises(pulumi.RunError) as error:
        run_program(stack_file_config("dev"), "dev")
    assert str(error.value).startswith("cannot read the stack's previous outputs: ")
    assert "failed to load checkpoint: EOF" in str(error.value)
    assert "\n" not in str(error.value)
    assert len(calls) == 5
