"""A hot standby started by the replica container's own bootstrap script (`topology.replication`),
run here as the postgres OS user with the container's environment, against a throwaway primary."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.realdb import postgres_servers
from tests.realdb import server_processes as harness
from topology.replication import PRIMARY_HOST_VARIABLE, PRIMARY_PORT_VARIABLE


@dataclass
class Standby:
    """The replica's data directory, port and process; `stop` and `start` keep the directory."""

    script: str
    """The replica container's script (`sh -c <script> replica <postgres args>`)."""
    path: str
    """PATH with the PostgreSQL programs of the primary's version (pg_basebackup, postgres)."""
    primary: harness.RunningServer
    replicator_password: str = field(repr=False)
    admin_password: str = field(repr=False)
    """The primary's superuser password: the standby has the same roles."""
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="realdb-standby-")))
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def pgdata(self) -> Path:
        return self.base / "standby"

    @property
    def log(self) -> Path:
        return self.base / "standby.log"

    def _launch(self, port: int) -> subprocess.Popen[bytes]:
        return harness._spawn(
            ["/bin/sh", "-c", self.script, "replica", "-p", str(port), "-k", str(self.base),
             "-c", f"listen_addresses={self.primary.host}", "-c", "cluster_name=realdb-standby"],
            cwd=self.base,
            log_path=self.log,
            run_as=postgres_servers._postgres_os_user(),
            death_signal=signal.SIGINT,
            env={
                "PATH": f"{self.path}:/usr/bin:/bin",
                "PGDATA": str(self.pgdata),
                "PGPASSWORD": self.replicator_password,
                PRIMARY_HOST_VARIABLE: self.primary.host,
                PRIMARY_PORT_VARIABLE: str(self.primary.port),
            },
        )  # fmt: skip

    def _probe(self, port: int) -> Callable[[], None]:
        def probe() -> None:
            with psycopg.connect(host=self.primary.host, port=port, user="postgres", password=self.admin_password,
                                 dbname="postgres", connect_timeout=2) as connection:  # fmt: skip
                connection.execute("SELECT pg_is_in_recovery()")

        return probe

    def start(self, timeout: float = 120.0) -> None:
        """First start: a free port (the base backup runs); later starts: the same port."""
        if self.port == 0:
            stack = contextlib.ExitStack()
            self.port = harness._start_with_free_port(
                self._launch, self._probe, stop_signal=signal.SIGINT, stack=stack, what="the standby",
                log_path=self.log, timeout=timeout, secret=self.replicator_password,
            )  # fmt: skip
            self.process = None
            self._stack = stack
            return
        offset = self.log.stat().st_size
        process = self._launch(self.port)
        self._stack.callback(harness._stop_process, process, signal.SIGINT)
        harness._wait_ready(process, self._probe(self.port), what="the standby", log_path=self.log,
                            log_offset=offset, timeout=timeout, secret=self.replicator_password)  # fmt: skip

    def stop(self) -> None:
        self._stack.close()
        self._stack = contextlib.ExitStack()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace").replace(self.replicator_password, "***")


@contextlib.contextmanager
def standby(script: str, path: str, primary: harness.RunningServer, replicator_password: str) -> Iterator[Standby]:
    replica = Standby(script, path, primary, replicator_password, primary.admin_password)
    user = postgres_servers._postgres_os_user()
    if user is not None:
        os.chown(replica.base, user.uid, user.gid)
    try:
        replica.start()
        yield replica
    finally:
        with contextlib.suppress(AttributeError):
            replica.stop()
        subprocess.run(["rm", "-rf", str(replica.base)], check=False)
