"""Service containers on the stack's Docker network."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from components.common import TYPE_PREFIX, child, secret_env
from topology.model import Healthcheck, Service
from topology.model import Redis as RedisSpec


def _healthcheck(check: Healthcheck | None) -> docker.ContainerHealthcheckArgs | None:
    if check is None:
        return None
    return docker.ContainerHealthcheckArgs(
        tests=["CMD-SHELL", check.command],
        interval=check.interval,
        timeout=check.timeout,
        retries=check.retries,
        start_period=check.start_period,
    )


@dataclass
class ServiceContainerArgs:
    """Inputs of a service container component."""

    service: Service
    """The service as the topology describes it."""
    env: dict[str, pulumi.Input[str]]
    """Resolved environment (credentials are secret Outputs)."""
    container_name: str
    """Docker container name."""
    network: pulumi.Input[str]
    """Docker network; the service's name is its alias there."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """Roles and grants the service needs before it starts."""
    ca_files: list[str] = field(default_factory=list)
    """CA bundles its DSNs name (`sslrootcert`): mounted read-only at the same path."""


class ServiceContainer(pulumi.ComponentResource):
    """A service container with its settings wired in; the whole env is a secret."""

    def __init__(self, name: str, args: ServiceContainerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:ServiceContainer", name, None, opts)
        service = args.service
        envs = secret_env([pulumi.Output.concat(key, "=", value) for key, value in sorted(args.env.items())])
        container = docker.Container(
            name,
            name=args.container_name,
            image=service.image,
            envs=envs,
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=args.network, aliases=[service.name])],
            healthcheck=_healthcheck(service.healthcheck),
            volumes=[
                docker.ContainerVolumeArgs(host_path=path, container_path=path, read_only=True)
                for path in args.ca_files
            ]
            or None,
            uploads=[
                docker.ContainerUploadArgs(file=path, content=text) for path, text in sorted(service.files.items())
            ]
            or None,
            restart="unless-stopped",
            opts=child(self, depends_on=args.depends_on),
        )
        self.register_outputs({"name": container.name})


@dataclass
class RedisArgs:
    """Inputs of the Redis component."""

    redis: RedisSpec
    """Image, alias and port."""
    password: pulumi.Input[str]
    """The generated password (secret)."""
    container_name: str
    """Docker container name."""
    network: pulumi.Input[str]
    """Docker network."""


class Redis(pulumi.ComponentResource):
    """Redis with a required password: passed in the (secret) env, never on the command line."""

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:Redis", name, None, opts)
        spec = args.redis
        docker.Container(
            name,
            name=args.container_name,
            image=spec.image,
            envs=secret_env([pulumi.Output.concat("REDIS_PASSWORD=", args.password)]),
            command=["sh", "-c", 'exec redis-server --port "$0" --requirepass "$REDIS_PASSWORD"', str(spec.port)],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=args.network, aliases=[spec.alias])],
            healthcheck=_healthcheck(
                Healthcheck(
                    f'redis-cli -p {spec.port} --no-auth-warning -a "$REDIS_PASSWORD" ping | grep -q PONG',
                    interval="5s",
                    start_period="5s",
                )
            ),
            restart="unless-stopped",
            wait=True,
            opts=child(self),
        )
        self.register_outputs({})
