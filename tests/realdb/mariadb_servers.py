"""Throwaway real MariaDB servers for tests (the Debian package), for the scheduler's MySQL database.

    with mariadb_server("mytest") as db:
        pymysql.connect(host=db.host, port=db.port, user=db.admin_user, password=db.admin_password)

When running as root, MariaDB runs with ``--user=root``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.realdb.server_processes import (
    _HOST,
    DEFAULT_STARTUP_TIMEOUT,
    RunningServer,
    ServerStartError,
    ServerTls,
    _FatalProbeError,
    _find_binary,
    _make_base_dir,
    _read_from,
    _run_setup,
    _running,
    _safe_name,
    _socket_dir,
    _spawn,
    _start_with_free_port,
    _write_secret_file,
)

MARIADB_PACKAGE = "mariadb-server"


def _mariadb_binaries() -> tuple[Path, Path] | None:
    install_db = _find_binary("mariadb-install-db", "/usr/bin", "/usr/local/bin")
    mariadbd = _find_binary("mariadbd", "/usr/sbin", "/usr/local/sbin", "/usr/bin")
    if install_db is None or mariadbd is None:
        return None
    return install_db, mariadbd


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def start_mariadb(
    workdir: Path,
    name: str,
    *,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    tls: ServerTls | None = None,
) -> tuple[RunningServer, Callable[[], None]]:
    """Start MariaDB in a new directory under ``workdir``.

    The admin is ``root`` with a random password, usable over TCP from any
    host ('root'@'%'). With ``tls``, clients may connect over TLS. Returns the
    server and an idempotent ``stop``.
    """
    binaries = _mariadb_binaries()
    if binaries is None:
        raise ServerStartError(f"mariadbd / mariadb-install-db not found (install {MARIADB_PACKAGE})")
    install_db, mariadbd = binaries
    as_root = os.geteuid() == 0
    user_args = ["--user=root"] if as_root else []
    password = secrets.token_urlsafe(24)
    safe = _safe_name(name)

    with contextlib.ExitStack() as stack:
        base = _make_base_dir(workdir, f"realdb-mariadb-{safe}-", stack)
        data = base / "data"
        tmp = base / "tmp"
        tmp.mkdir()
        log_path = base / "mariadbd.log"
        # Default root auth is unix_socket only; no passwordless accounts exist.
        _run_setup(
            [
                install_db,
                "--no-defaults",
                f"--datadir={data}",
                "--skip-test-db",
                "--skip-name-resolve",
                *user_args,
            ],
            what="mariadb-install-db",
            cwd=base,
            log_path=base / "install-db.log",
            run_as=None,
            secret=password,
        )
        # Runs at startup with grant tables loaded, before TCP clients are served.
        init_file = base / "init.sql"
        pw = _sql_string(password)
        _write_secret_file(
            init_file,
            f"CREATE OR REPLACE USER 'root'@'%' IDENTIFIED BY {pw};\n"
            "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;\n"
            "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket"
            f" OR mysql_native_password USING PASSWORD({pw});\n",
            None,
        )
        sockdir = _socket_dir(base, "mariadbd.sock", stack)

        def launch(port: int) -> subprocess.Popen[bytes]:
            return _spawn(
                [
                    mariadbd,
                    "--no-defaults",  # must come first
                    f"--datadir={data}",
                    f"--port={port}",
                    f"--bind-address={_HOST}",
                    f"--socket={sockdir / 'mariadbd.sock'}",
                    f"--pid-file={base / 'mariadbd.pid'}",
                    f"--tmpdir={tmp}",
                    f"--init-file={init_file}",
                    "--skip-name-resolve",
                    "--character-set-server=utf8mb4",
                    "--collation-server=utf8mb4_general_ci",
                    "--max-connections=200",
                    "--innodb-flush-log-at-trx-commit=0",
                    "--innodb-doublewrite=0",
                    *([f"--ssl-cert={tls.cert_file}", f"--ssl-key={tls.key_file}"] if tls else []),
                    *user_args,
                ],
                cwd=base,
                log_path=log_path,
                run_as=None,
                death_signal=signal.SIGTERM,
            )

        def probe_for(port: int) -> Callable[[], None]:
            def probe() -> None:
                import pymysql  # type: ignore[import-untyped, unused-ignore]

                try:
                    conn = pymysql.connect(
                        host=_HOST,
                        port=port,
                        user="root",
                        password=password,
                        database="mysql",
                        connect_timeout=2,
                        read_timeout=2,  # else a silent listener blocks forever
                        write_timeout=2,
                    )
                except pymysql.err.OperationalError as exc:
                    # 1045 = access denied; only fatal once startup is complete.
                    if exc.args and exc.args[0] == 1045 and "ready for connections" in _read_from(log_path, 0):
                        raise _FatalProbeError("access denied") from None
                    raise
                try:
                    with conn.cursor() as cur:
                        cur.execute("SELECT 1")
                finally:
                    conn.close()

            return probe

        port = _start_with_free_port(
            launch,
            probe_for,
            stop_signal=signal.SIGTERM,
            stack=stack,
            what="MariaDB",
            log_path=log_path,
            timeout=startup_timeout,
            secret=password,
        )
        init_file.unlink()
        server = RunningServer(
            engine="mysql",
            host=_HOST,
            port=port,
            admin_user="root",
            admin_password=password,
            database="mysql",
        )
        return server, stack.pop_all().close
    raise AssertionError("unreachable")  # pragma: no cover  (for type checkers)


@contextlib.contextmanager
def mariadb_server(
    name: str = "realdb",
    *,
    workdir: Path | None = None,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    tls: ServerTls | None = None,
) -> Iterator[RunningServer]:
    """Context manager around :func:`start_mariadb` (default workdir: system temp)."""
    yield from _running(start_mariadb, name, workdir, startup_timeout, tls=tls)
