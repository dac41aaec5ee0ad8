"""A container read replica of a PostgreSQL server: its slot on the primary, its volume, its container."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker
import pulumi_postgresql as postgresql

from components.common import TYPE_PREFIX, child, secret_env
from topology.model import Replica, Server, data_volume_name
from topology.replication import (
    PRIMARY_HOST_VARIABLE,
    PRIMARY_PORT_VARIABLE,
    REPLICA_PGDATA,
    REPLICA_VOLUME_PATH,
    bootstrap_script,
)

# Ready once it accepts connections: a standby answers pg_isready while it streams.
_HEALTHCHECK = "pg_isready -h 127.0.0.1 -p 5432 -d postgres"


@dataclass
class PostgresReplicaArgs:
    """Inputs of a container replica."""

    replica: Replica
    """The replica as the topology describes it."""
    server: Server
    """Its primary (image and connection settings)."""
    provider: postgresql.Provider
    """The primary's provider: the replica's slot lives there."""
    replicator_password: pulumi.Input[str]
    """The replication role's password (secret): the base backup's and the WAL receiver's."""
    container_name: str
    """Docker container name."""
    network: pulumi.Input[str]
    """Docker network (the primary's); the replica's name is its alias there."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """The primary's container and the replication role: the base backup needs both."""
    protect: bool = False
    """Protect (and retain) the replica's volume and container."""


class PostgresReplica(pulumi.ComponentResource):
    """A hot standby of its server: a physical slot on the primary, then a container that takes its base
    backup through that slot on an empty volume and streams from it."""

    slot: postgresql.PhysicalReplicationSlot

    def __init__(self, name: str, args: PostgresReplicaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:PostgresReplica", name, None, opts)
        replica, server = args.replica, args.server
        self.slot = postgresql.PhysicalReplicationSlot(
            f"{name}-slot", name=replica.slot, opts=child(self, provider=args.provider, depends_on=args.depends_on)
        )
        volume = docker.Volume(
            f"{name}-data",
            # A new major's replica starts over on a new volume, as its primary does (topology/upgrades.py).
            name=data_volume_name(args.container_name, server.data),
            opts=child(self, protect=args.protect, retain_on_delete=args.protect),
        )
        assert replica.host_port is not None
        container = docker.Container(
            f"{name}-container",
            name=args.container_name,
            image=server.image,
            user="postgres",
            entrypoints=["/bin/sh", "-c", bootstrap_script(replica, server), "replica"],
            envs=secret_env(
                [
                    f"PGDATA={REPLICA_PGDATA}",
                    f"{PRIMARY_HOST_VARIABLE}={server.service_host}",
                    f"{PRIMARY_PORT_VARIABLE}={server.service_port}",
                    pulumi.Output.concat("PGPASSWORD=", args.replicator_password),
                ]
            ),
            ports=[docker.ContainerPortArgs(internal=replica.port, external=replica.host_port, ip="127.0.0.1")],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=args.network, aliases=[replica.name])],
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path=REPLICA_VOLUME_PATH)],
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD-SHELL", _HEALTHCHECK], interval="2s", timeout="5s", retries=90, start_period="10s"
            ),
            restart="unless-stopped",
            wait=True,
            wait_timeout=300,
            opts=child(self, depends_on=[self.slot], protect=args.protect),
        )
        self.register_outputs({"name": container.name, "slot": self.slot.name})
