"""The stack's top level: the network, the servers, the secrets, Redis, services, backups; nothing else."""

from __future__ import annotations

from resource_types import COMPONENT_PREFIX, GENERATED_SECRETS, MYSQL_SERVER, NETWORK, POSTGRES_SERVER
from review.capture.program import Capture
from tests.components.tree import depth, roots

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
