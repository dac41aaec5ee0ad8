"""Backups: the scheduler's read-only backup user, and (dev) one backup job container per database."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker
import pulumi_mysql as mysql

from components.common import TYPE_PREFIX, child, secret_env, secret_password
from topology.backups import BACKUP_DIR, MYSQL_BACKUP_PRIVILEGES, job_script
from topology.model import BackupJob


@dataclass
class MysqlBackupUserArgs:
    """Inputs of the MySQL backup user component."""

    user: str
    """User name."""
    database: pulumi.Input[str]
    """The database it dumps (an Output of the database, so the grant waits for it)."""
    provider: mysql.Provider
    """Provider of the MySQL server."""
    tls_option: str | None = None
    """The user's REQUIRE clause (the mysql provider's `tls_option`): SSL where the server's connections use TLS."""


class MysqlBackupUser(pulumi.ComponentResource):
    """A user with exactly what `mysqldump --single-transaction` needs on one database.

    The password is alphanumeric: the job writes it into a MySQL option file.
    """

    password: pulumi.Output[str]

    def __init__(self, name: str, args: MysqlBackupUserArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:MysqlBackupUser", name, None, opts)
        self.password = secret_password(f"{name}-password", length=32, special=False, parent=self)
        user = mysql.User(
            name,
            user=args.user,
            host="%",
            plaintext_password=self.password,
            tls_option=args.tls_option,
            opts=child(self, provider=args.provider, ignore_changes=["tlsOption"]),
        )
        mysql.Grant(
            f"{name}-grant",
            user=user.user,
            host=user.host,
            database=args.database,
            privileges=list(MYSQL_BACKUP_PRIVILEGES),
            opts=child(self, provider=args.provider),
        )
        self.register_outputs({"user": user.user})


@dataclass
class BackupJobsArgs:
    """Inputs of the dev backup jobs component."""

    jobs: tuple[BackupJob, ...]
    """One job per database."""
    envs: dict[str, dict[str, pulumi.Input[str]]]
    """Job service name -> its resolved env (credentials are secret Outputs)."""
    volume_name: str
    """Docker volume the dumps are written to."""
    container_prefix: str
    """Container names are `<prefix>-<job service>`."""
    network: pulumi.Input[str]
    """Docker network the servers are on."""
    depends_on: dict[str, list[pulumi.Resource]] = field(default_factory=dict)
    """Job service name -> the login and grants it needs before it starts."""
    protect: bool = False
    """Protect and retain the volume (the dumps outlive the stack)."""


class BackupJobs(pulumi.ComponentResource):
    """A volume for the dumps and, per database, a container running the job's loop with the server's image."""

    def __init__(self, name: str, args: BackupJobsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:BackupJobs", name, None, opts)
        volume = docker.Volume(
            f"{name}-volume",
            name=args.volume_name,
            opts=child(self, protect=args.protect, retain_on_delete=args.protect),
        )
        for job in args.jobs:
            env = args.envs[job.service]
            docker.Container(
                job.service,
                name=f"{args.container_prefix}-{job.service}",
                image=job.image,
                command=["sh", "-c", job_script(job.engine)],
                envs=secret_env([pulumi.Output.concat(key, "=", value) for key, value in sorted(env.items())]),
                networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=args.network)],
                volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path=BACKUP_DIR)],
                restart="unless-stopped",
                opts=child(self, depends_on=args.depends_on.get(job.service, [])),
            )
        self.register_outputs({"volume": volume.name})
