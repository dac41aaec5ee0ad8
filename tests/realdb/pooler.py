"""Debian's PgBouncer on loopback, run with the pgbouncer.ini and auth file the stack renders.

The rendered files are deployed unchanged except for what a local run must change: the auth
file's path and the listen address (loopback instead of every interface).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.realdb.postgres_servers import _check_searchable, _postgres_os_user
from tests.realdb.server_processes import (
    ServerStartError,
    _make_base_dir,
    _spawn,
    _stop_process,
    _tail,
    _wait_ready,
    _write_secret_file,
)
from topology.pgbouncer import AUTH_FILE

PGBOUNCER = Path("/usr/sbin/pgbouncer")
PGBOUNCER_PACKAGE = "pgbouncer"


def local_config(config: str, auth_file: Path) -> str:
    """The rendered pgbouncer.ini with the auth file at `auth_file` and listening on 127.0.0.1."""
    local = config.replace(f"auth_file = {AUTH_FILE}", f"auth_file = {auth_file}")
    local, count = re.subn(r"(?m)^listen_addr = .*$", "listen_addr = 127.0.0.1", local)
    if count != 1 or str(auth_file) not in local:
        raise ValueError("the rendered pgbouncer.ini has no auth_file / listen_addr line to localize")
    return local


@contextlib.contextmanager
def pgbouncer(config: str, auth_file: str, port: int) -> Iterator[None]:
    """PgBouncer listening on 127.0.0.1:`port` (the port the rendered config names)."""
    if not PGBOUNCER.exists():
        raise ServerStartError(f"{PGBOUNCER} not found (apt-get install {PGBOUNCER_PACKAGE})")
    run_as = _postgres_os_user()  # PgBouncer, like PostgreSQL, refuses to run as root
    with contextlib.ExitStack() as stack:
        base = _make_base_dir(Path(tempfile.gettempdir()), "realdb-pgbouncer-", stack)
        if run_as is not None:
            os.chown(base, run_as.uid, run_as.gid)
            _check_searchable(base, run_as)
        users = base / "userlist.txt"
        ini = base / "pgbouncer.ini"
        _write_secret_file(users, auth_file, run_as)
        _write_secret_file(ini, local_config(config, users), run_as)
        log_path = base / "pgbouncer.log"
        process = _spawn([PGBOUNCER, ini], cwd=base, log_path=log_path, run_as=run_as, death_signal=signal.SIGTERM)
        # SIGTERM: immediate shutdown (SIGINT would wait for every client and server connection).
        stack.callback(_stop_process, process, signal.SIGTERM)

        def probe() -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass

        _wait_ready(process, probe, what="PgBouncer", log_path=log_path, log_offset=0, timeout=20, secret="")
        try:
            yield
        except Exception as error:
            error.add_note(_tail(log_path, ""))
            raise
