"""A container PostgreSQL server across major versions: which data volume it runs on.

A data directory belongs to the major that created it: PostgreSQL 17 will not start on 15's. So the stack
records, in its outputs (`servers.<name>.data`), each container PostgreSQL server's major and data volume,
reads them back before it registers anything, and refuses an image of another major unless the server
says `allowMajorUpgrade: true`. Then the server (and its replicas) start on new, empty volumes named for
the new major, and the old volume is left to the upgrade runbook (docs/operations.md: dump, upgrade,
restore). A stack deployed before the record existed has none: its first `up` records what it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from topology.config import NAMESPACE
from topology.model import Engine, Mode, Server, ServerData, data_volume_name
from topology.names import ConfigError

RUNBOOK = "docs/operations.md#upgrading-postgresql-to-a-new-major-version"


def data_volume_prefix(network: str, server: str) -> str:
    """The name of a server's first data volume, which every later one starts with."""
    return data_volume_name(f"{network}-{server}", None)


def data_output(data: ServerData, network: str, server: str) -> dict[str, str]:
    """The record of `data` in the stack's outputs (`servers.<server>.data`)."""
    return {"postgresMajor": data.major, "volume": data_volume_name(f"{network}-{server}", data)}


def deployed_data(outputs: Mapping[str, Any], network: str) -> dict[str, ServerData]:
    """Each container PostgreSQL server's record in the stack's previous outputs (none before the first
    update): what its volume holds and that volume's suffix."""
    servers = outputs.get("servers")
    records: dict[str, ServerData] = {}
    if not isinstance(servers, Mapping):
        return records
    for name, server in servers.items():
        data = server.get("data") if isinstance(server, Mapping) else None
        if not isinstance(data, Mapping):
            continue
        major, volume, prefix = data.get("postgresMajor"), data.get("volume"), data_volume_prefix(network, name)
        if isinstance(major, str) and isinstance(volume, str) and volume.startswith(prefix):
            records[name] = ServerData(major, volume[len(prefix) :])
    return records


def with_data_volumes(
    servers: Mapping[str, Server], deployed: Mapping[str, ServerData], allowed: frozenset[str]
) -> tuple[dict[str, Server], list[str]]:
    """Each container PostgreSQL server with the data it runs on, and the notices; refuses a major change
    a server does not allow (`allowed`: the servers saying `allowMajorUpgrade: true`)."""
    placed: dict[str, Server] = {}
    notices: list[str] = []
    for name, server in servers.items():
        if server.mode is not Mode.CONTAINER or server.engine is not Engine.POSTGRESQL:
            placed[name] = server
            continue
        assert server.image_version is not None
        key = f"servers.{name}"
        before = deployed.get(name)
        data = ServerData(server.image_version, "") if before is None else before
        if before is not None and before.major != server.image_version:
            if name not in allowed:
                raise ConfigError(
                    f"{key}.image",
                    f"runs PostgreSQL {server.image_version}, but its data volume holds PostgreSQL {before.major}'s "
                    f"data, which {server.image_version} cannot start on: dump it, set {key}.allowMajorUpgrade: "
                    f"true for a new volume, then restore ({RUNBOOK})",
                )
            data = ServerData(server.image_version, f"-{server.image_version}")
            notices.append(
                f"warning: {NAMESPACE}:{key} moves from PostgreSQL {before.major} to {server.image_version} "
                f"on new, empty data volumes: restore its dump after the update ({RUNBOOK})"
            )
        elif name in allowed:
            notices.append(
                f"notice: {NAMESPACE}:{key}.allowMajorUpgrade has no major change to allow "
                f"(the data is PostgreSQL {data.major}'s): remove it"
            )
        placed[name] = replace(server, data=data)
    return placed, notices
