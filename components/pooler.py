"""PgBouncer in front of a PostgreSQL server, as a container on the stack's network."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from components.common import TYPE_PREFIX, child
from topology.model import Pooler
from topology.pgbouncer import AUTH_FILE, CONFIG_FILE


@dataclass
class PgBouncerArgs:
    """Inputs of a PgBouncer container."""

    pooler: Pooler
    """The pooler as the topology describes it."""
    config: str
    """Rendered pgbouncer.ini (no secret in it)."""
    auth_file: pulumi.Input[str]
    """Rendered userlist.txt: the pooled roles' SCRAM verifiers (secret)."""
    container_name: str
    """Docker container name."""
    network: pulumi.Input[str]
    """Docker network; the pooler's host name is its alias there."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """The roles it logs in as."""


class PgBouncer(pulumi.ComponentResource):
    """PgBouncer with its two files uploaded before it starts (the image uses a mounted pgbouncer.ini as is)."""

    def __init__(self, name: str, args: PgBouncerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:PgBouncer", name, None, opts)
        spec = args.pooler
        container = docker.Container(
            name,
            name=args.container_name,
            image=spec.image,
            uploads=[
                docker.ContainerUploadArgs(file=CONFIG_FILE, content=args.config),
                docker.ContainerUploadArgs(file=AUTH_FILE, content=pulumi.Output.secret(args.auth_file)),
            ],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=args.network, aliases=[spec.host])],
            restart="unless-stopped",
            opts=child(self, depends_on=args.depends_on),
        )
        self.register_outputs({"name": container.name})
