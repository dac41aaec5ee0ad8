"""What docs/operations.md promises about data, on the real Docker engine: with `protect: true`, a `pulumi destroy`
stops at the first protected resource, main's data is still there, and the next `up` brings back what the
destroy did remove, around the same data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pulumi import automation as auto

from tests.e2e_docker.conftest import DockerStack, wait_healthy


@pytest.fixture(scope="module")
def stack_overrides() -> dict[str, Any]:
    return {"protect": True}


@pytest.fixture(scope="module")
def destroy_at_end() -> bool:
    return False  # protected: `pulumi destroy` refuses, which is the point


@pytest.fixture(scope="module")
def protected(docker_stack: DockerStack) -> Iterator[DockerStack]:
    docker_stack.up()
    wait_healthy(docker_stack)
    yield docker_stack


def test_destroy_of_a_protected_stack_stops_and_keeps_mains_data(protected: DockerStack) -> None:
    protected.psql("main", "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('before the destroy')", "engarde")
    volume = protected.docker.inspect("volume", f"{protected.prefix}-main-data")["Mountpoint"]
    with pytest.raises(auto.CommandError, match="protected"):
        protected.engine.stack.destroy(on_output=lambda _: None)
    assert protected.docker.inspect("volume", f"{protected.prefix}-main-data")["Mountpoint"] == volume
    assert protected.psql("main", "SELECT note FROM kept", "engarde") == "before the destroy"


def test_the_next_up_brings_back_what_the_destroy_removed_around_the_same_data(protected: DockerStack) -> None:
    protected.up()
    wait_healthy(protected)
    assert protected.psql("main", "SELECT note FROM kept", "engarde") == "before the destroy"
    protected.engine.stack.preview(expect_no_changes=True)
