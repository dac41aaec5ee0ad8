"""What the Docker engine reads back from a container equals what the program sets (no perpetual diff)."""

from __future__ import annotations

import re

import pytest

from resource_types import CONTAINER
from review.capture.program import Capture
from tests.graph import inputs

DURATION_KEYS = ("interval", "timeout", "startPeriod")


def go_duration(text: str) -> str:
    """`text` as Go's time.Duration.String() writes it (whole seconds): what the docker provider reads back."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    assert match and text, f"not a duration: {text!r}"
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{minutes}m{seconds}s"
    return f"{seconds}s"


def test_go_duration_is_gos_spelling() -> None:
    assert [go_duration(t) for t in ("180s", "3m0s", "5s", "90s", "3600s", "0s")] == [
        "3m0s", "3m0s", "5s", "1m30s", "1h0m0s", "0s",
    ]  # fmt: skip


@pytest.mark.parametrize("stack", ["dev", "replicated", "cross_reads"])
def test_every_healthcheck_duration_is_spelled_as_the_engine_reads_it_back(
    stack: str, request: pytest.FixtureRequest
) -> None:
    """Langflow's `startPeriod: 180s` read back as `3m0s`, and every `pulumi up` updated the container."""
    result: Capture = request.getfixturevalue(stack)
    containers = [r for r in result.resources if r.type == CONTAINER]
    durations = {
        (container.name, key): value
        for container in containers
        for key, value in dict(inputs(container).get("healthcheck") or {}).items()  # type: ignore[call-overload]
        if key in DURATION_KEYS
    }
    assert durations, "no container has a healthcheck"
    assert {where: value for where, value in durations.items() if value != go_duration(str(value))} == {}
