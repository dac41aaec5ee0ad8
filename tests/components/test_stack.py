"""The stack's top level: the network, the servers, the secrets, Redis, services, backups; nothing else."""

from __future__ import annotations

from resource_types import COMPONENT_PREFIX, GENERATED_SECRETS, MYSQL_SERVER, NETWORK, POSTGRES_SERVER
from review.capture.program import Capture
from tests.components.tree import depth, roots
from tests.conftest import PROJECT_DIR, cached_run_program, stack_file_config

TOP_LEVEL_TYPES = {
    NETWORK,
    POSTGRES_SERVER,
    MYSQL_SERVER,
    GENERATED_SECRETS,
    f"{COMPONENT_PREFIX}:Redis",
    f"{COMPONENT_PREFIX}:ServiceContainer",
    f"{COMPONENT_PREFIX}:BackupJobs",
}


def test_dev_has_one_root_per_server_service_and_shared_part(dev: Capture) -> None:
    top = roots(dev)
    assert {r.type for r in top} <= TOP_LEVEL_TYPES
    services = [r for r in top if r.type == f"{COMPONENT_PREFIX}:ServiceContainer"]
    assert sorted(r.name for r in top if r.type.endswith("Server")) == ["flowdb", "main", "scheduler"]
    assert len(top) == len(services) + 3 + 4  # the servers; network, secrets, Redis, backups
    # server -> database -> schema -> access group -> grant
    assert depth(dev) == 5


def test_prod_runs_no_container_so_only_servers_and_secrets_are_roots(prod: Capture) -> None:
    assert {r.type for r in roots(prod)} == {
        f"{COMPONENT_PREFIX}:PostgresServer",
        f"{COMPONENT_PREFIX}:MysqlServer",
        f"{COMPONENT_PREFIX}:GeneratedSecrets",
    }


def test_each_registration_carries_the_one_frame_of_the_project_that_made_it() -> None:
    """The state keeps each registration's stack trace (components/stack_traces.py): one frame, in the
    project's own code, not the language host's and asyncio's."""
    capture = cached_run_program(stack_file_config("dev"), "dev")
    frames = {resource.name: resource.stack_frames for resource in capture.resources}
    # (The SDK finds no frame for a component registered outside a constructor chain: `secrets`.)
    assert all(len(trace) <= 1 for trace in frames.values()), {n: t for n, t in frames.items() if len(t) > 1}
    project = PROJECT_DIR.as_uri()
    outside = {name for name, t in frames.items() if t and (not t[0].startswith(project) or "/site-packages/" in t[0])}
    # Provider resources' first frame is in their SDK package's own constructor.
    assert outside == {r.name for r in capture.resources if r.type.startswith("pulumi:providers:")}
    assert sum(1 for trace in frames.values() if trace) > 0.95 * len(frames)
    assert frames["main-madansara_user"][0].startswith(f"{project}/components/roles.py#")
