"""Throwaway real PostgreSQL and MariaDB servers for tests.

Each server runs on a free 127.0.0.1 port with its data in a fresh temporary
directory, with a random admin password, and is removed again when stopped.

    with postgres_server("mytest") as pg:
        psycopg.connect(pg.dsn())

Linux only. When running as root, PostgreSQL runs as the ``postgres`` OS user
(it refuses root) and MariaDB with ``--user=root``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from tests.realdb import postgres_builds

__all__ = [
    "MARIADB_PACKAGE",
    "POSTGRES_PACKAGE",
    "RunningServer",
    "ServerStartError",
    "ServerTls",
    "mariadb_server",
    "missing_postgres_build",
    "missing_server_packages",
    "postgres_server",
    "start_mariadb",
    "start_postgres",
]

POSTGRES_PACKAGE = "postgresql-15"
MARIADB_PACKAGE = "mariadb-server"
PG_BINDIR = Path("/usr/lib/postgresql/15/bin")

DEFAULT_STARTUP_TIMEOUT = 30.0
_STOP_TIMEOUT = 30.0
_SETUP_TIMEOUT = 120.0
_PORT_ATTEMPTS = 3
_POLL_INTERVAL = 0.05
# sockaddr_un.sun_path is 108 bytes including the trailing NUL.
_MAX_SOCKET_PATH = 107
_HOST = "127.0.0.1"


class ServerStartError(RuntimeError):
    """A throwaway database server could not be set up or started."""


@dataclass(frozen=True)
class RunningServer:
    """Connection details of a running throwaway server."""

    engine: str  # "postgresql" or "mysql"
    host: str
    port: int
    admin_user: str
    admin_password: str = field(repr=False)
    database: str  # default database to connect to
    statement_log: Path | None = field(default=None, compare=False)
    """With `log_statements`: the CSV log of every statement the server ran (PostgreSQL's csvlog)."""

    def dsn(self, database: str | None = None) -> str:
        """URL for the admin user, e.g. ``postgresql://u:p@127.0.0.1:5432/db``."""
        user = quote(self.admin_user, safe="")
        password = quote(self.admin_password, safe="")
        db = quote(self.database if database is None else database, safe="")
        return f"{self.engine}://{user}:{password}@{self.host}:{self.port}/{db}"


# --------------------------------------------------------------------------
# Binary discovery


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _find_binary(name: str, *fallback_dirs: str) -> Path | None:
    found = shutil.which(name)
    if found:
        return Path(found)
    for directory in fallback_dirs:
        candidate = Path(directory) / name
        if _executable(candidate):
            return candidate
    return None


def _postgres_bindir(version: int) -> Path:
    return PG_BINDIR if version == postgres_builds.DEBIAN_MAJOR else postgres_builds.bindir(version)


def _postgres_binaries(version: int = postgres_builds.DEBIAN_MAJOR) -> tuple[Path, Path] | None:
    bindir = _postgres_bindir(version)
    initdb, postgres = bindir / "initdb", bindir / "postgres"
    if _executable(initdb) and _executable(postgres):
        return initdb, postgres
    return None


def _postgres_install_hint(version: int) -> str:
    if version == postgres_builds.DEBIAN_MAJOR:
        return f"apt-get install {POSTGRES_PACKAGE}"
    return postgres_builds.install_command([version])


def missing_postgres_build(version: int) -> str | None:
    """The command that installs PostgreSQL `version`'s server binaries, if they are missing."""
    if version != postgres_builds.DEBIAN_MAJOR and version not in postgres_builds.BUILDS:
        raise ValueError(f"no PostgreSQL {version} build is pinned (pinned: {sorted(postgres_builds.BUILDS)})")
    if version != postgres_builds.DEBIAN_MAJOR and not postgres_builds.installed(version):
        return _postgres_install_hint(version)
    if version in postgres_builds.CLIENTS and not _executable(postgres_builds.client_bindir(version) / "pg_basebackup"):
        return _postgres_install_hint(version)
    return None if _postgres_binaries(version) else _postgres_install_hint(version)


def _mariadb_binaries() -> tuple[Path, Path] | None:
    install_db = _find_binary("mariadb-install-db", "/usr/bin", "/usr/local/bin")
    mariadbd = _find_binary("mariadbd", "/usr/sbin", "/usr/local/sbin", "/usr/bin")
    if install_db is None or mariadbd is None:
        return None
    return install_db, mariadbd


@dataclass(frozen=True)
class _OsUser:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]


def _postgres_os_user() -> _OsUser | None:
    """The OS user PostgreSQL runs as: ``postgres`` if we are root, else us."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise ServerStartError(
            f"running as root but OS user 'postgres' does not exist (install {POSTGRES_PACKAGE})"
        ) from None
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return _OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid, groups)


def missing_server_packages() -> list[str]:
    """Debian packages whose server binaries are not installed."""
    missing: list[str] = []
    pg_ok = _postgres_binaries() is not None
    if pg_ok and os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pg_ok = False
    if not pg_ok:
        missing.append(POSTGRES_PACKAGE)
    if _mariadb_binaries() is None:
        missing.append(MARIADB_PACKAGE)
    return missing


# --------------------------------------------------------------------------
# Process helpers


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:40] or "db"


def _child_env(home: Path) -> dict[str, str]:
    path = os.environ.get("PATH", "")
    extra = [d for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin") if d not in path.split(":")]
    return {
        "PATH": ":".join([p for p in [path, *extra] if p]),
        "HOME": str(home),
        "LANG": "C",
        "LC_ALL": "C",
        "TZ": "UTC",
    }


_PR_SET_PDEATHSIG = 1
_prctl: Callable[..., int] | None = None
if sys.platform == "linux":
    with contextlib.suppress(OSError, AttributeError):
        _prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent(sig: int) -> Callable[[], None] | None:
    """preexec_fn so a server goes away if the test process is killed."""
    prctl = _prctl
    if prctl is None:
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return preexec


def _tail(path: Path, secret: str, max_bytes: int = 6000, max_lines: int = 40) -> str:
    """Last lines of a log file, with ``secret`` masked (the file gets deleted)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError as exc:
        return f"<log {path} unreadable: {exc.strerror}>"
    lines = data.decode("utf-8", "replace").splitlines()[-max_lines:]
    text = "\n".join(lines)
    if secret:
        text = text.replace(secret, "***")
    return f"last lines of {path.name}:\n{text or '<empty>'}"


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _run_setup(
    argv: Sequence[str | Path],
    *,
    what: str,
    cwd: Path,
    log_path: Path,
    run_as: _OsUser | None,
    secret: str,
) -> None:
    """Run a one-shot setup command (initdb, install-db), raising on failure."""
    with log_path.open("ab") as log:
        try:
            result = subprocess.run(
                [str(a) for a in argv],
                cwd=cwd,
                env=_child_env(cwd),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=_SETUP_TIMEOUT,
                check=False,
                user=None if run_as is None else run_as.uid,
                group=None if run_as is None else run_as.gid,
                extra_groups=None if run_as is None else list(run_as.groups),
            )
        except subprocess.TimeoutExpired:
            raise ServerStartError(
                f"{what} did not finish within {_SETUP_TIMEOUT:.0f}s; {_tail(log_path, secret)}"
            ) from None
    if result.returncode != 0:
        raise ServerStartError(f"{what} failed with exit code {result.returncode}; {_tail(log_path, secret)}")


def _spawn(
    argv: Sequence[str | Path],
    *,
    cwd: Path,
    log_path: Path,
    run_as: _OsUser | None,
    death_signal: int,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [str(a) for a in argv],
            cwd=cwd,
            env={**_child_env(cwd), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # keeps a terminal's Ctrl-C away from it
            preexec_fn=_die_with_parent(death_signal),
            user=None if run_as is None else run_as.uid,
            group=None if run_as is None else run_as.gid,
            # Without this the child keeps root's supplementary groups.
            extra_groups=None if run_as is None else list(run_as.groups),
        )


def _stop_process(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Ask a server to shut down with ``sig``; SIGKILL its group if it hangs."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            # Still alive, so its process group id is still ours to kill.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=_STOP_TIMEOUT)


class _FatalProbeError(Exception):
    """The probe shows the server is up but unusable; stop waiting."""


class _PortInUseError(Exception):
    """The server could not bind its port (lost a race for a free port)."""


def _wait_ready(
    proc: subprocess.Popen[bytes],
    probe: Callable[[], None],
    *,
    what: str,
    log_path: Path,
    log_offset: int,
    timeout: float,
    secret: str,
) -> None:
    """Call ``probe`` until it succeeds, the process dies, or ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error = "no connection attempt made"
    while True:
        code = proc.poll()
        if code is not None:
            if "Address already in use" in _read_from(log_path, log_offset):
                raise _PortInUseError()
            raise ServerStartError(f"{what} exited with code {code} during startup; {_tail(log_path, secret)}")
        try:
            probe()
            return
        except _FatalProbeError as exc:
            raise ServerStartError(
                f"{what} is up but refused the admin login ({exc}); {_tail(log_path, secret)}"
            ) from None
        except Exception as exc:
            last_error = f"{type(exc).__name__}: {exc}".replace(secret, "***")
        if time.monotonic() >= deadline:
            raise ServerStartError(
                f"{what} did not accept connections within {timeout:.0f}s "
                f"(last error: {last_error}); {_tail(log_path, secret)}"
            )
        time.sleep(_POLL_INTERVAL)


def _start_with_free_port(
    launch: Callable[[int], subprocess.Popen[bytes]],
    probe_for: Callable[[int], Callable[[], None]],
    *,
    stop_signal: int,
    stack: contextlib.ExitStack,
    what: str,
    log_path: Path,
    timeout: float,
    secret: str,
) -> int:
    """Start a server on a free port, retrying if another process grabs it."""
    for _ in range(_PORT_ATTEMPTS):
        port = _free_port()
        offset = log_path.stat().st_size if log_path.exists() else 0
        proc = launch(port)
        stack.callback(_stop_process, proc, stop_signal)
        try:
            _wait_ready(
                proc,
                probe_for(port),
                what=what,
                log_path=log_path,
                log_offset=offset,
                timeout=timeout,
                secret=secret,
            )
        except _PortInUseError:
            continue
        return port
    raise ServerStartError(f"{what} could not bind a free port in {_PORT_ATTEMPTS} attempts; {_tail(log_path, secret)}")


def _make_base_dir(workdir: Path, prefix: str, stack: contextlib.ExitStack) -> Path:
    base = Path(tempfile.mkdtemp(prefix=prefix, dir=workdir))
    stack.callback(shutil.rmtree, base)
    return base


def _socket_dir(base: Path, filename: str, stack: contextlib.ExitStack) -> Path:
    """``base`` if a socket path there fits in sun_path, else a short temp dir."""
    if len(str(base / filename).encode()) <= _MAX_SOCKET_PATH:
        return base
    short = Path(tempfile.mkdtemp(prefix="rdb-", dir="/tmp"))
    stack.callback(shutil.rmtree, short)
    return short


def _write_secret_file(path: Path, content: str, owner: _OsUser | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(content)
    if owner is not None:
        os.chown(path, owner.uid, owner.gid)


def _check_searchable(path: Path, user: _OsUser) -> None:
    """Fail clearly if ``user`` cannot reach ``path`` (e.g. a 0700 pytest tmp dir)."""
    for directory in (path, *path.parents):
        st = directory.stat()
        if st.st_uid == user.uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid in user.groups:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            raise ServerStartError(
                f"directory {directory} is not searchable by OS user {user.name!r}, "
                "which runs PostgreSQL; chmod o+x it or use the default workdir"
            )


# --------------------------------------------------------------------------
# PostgreSQL


@dataclass(frozen=True)
class ServerTls:
    """A certificate and its key (PEM files) the server presents; TCP clients may then use TLS."""

    cert_file: Path
    key_file: Path


def start_postgres(
    workdir: Path,
    name: str,
    *,
    version: int = postgres_builds.DEBIAN_MAJOR,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    tls: ServerTls | None = None,
    log_statements: bool = False,
    settings: Sequence[str] = (),
    hba: str | None = None,
) -> tuple[RunningServer, Callable[[], None]]:
    """Start PostgreSQL ``version`` (15: Debian's; 16+: a pinned npm build) in a new directory under ``workdir``.

    Returns the server and an idempotent ``stop`` that shuts it down and
    deletes its directory. Nothing is left behind if starting fails.
    With ``tls``, the server also accepts TLS connections with that certificate.
    With ``log_statements``, it logs every statement to ``RunningServer.statement_log``.
    ``settings`` (``name=value``) follow the harness's own; ``hba`` is a pg_hba.conf it reads instead of initdb's.
    """
    binaries = _postgres_binaries(version)
    if binaries is None:
        hint = _postgres_install_hint(version)
        raise ServerStartError(f"PostgreSQL {version} binaries not found in {_postgres_bindir(version)} ({hint})")
    initdb, postgres = binaries
    run_as = _postgres_os_user()
    password = secrets.token_urlsafe(24)
    safe = _safe_name(name)

    with contextlib.ExitStack() as stack:
        base = _make_base_dir(workdir, f"realdb-pg-{safe}-", stack)
        if run_as is not None:
            os.chown(base, run_as.uid, run_as.gid)
            _check_searchable(base, run_as)
        data = base / "data"
        pwfile = base / "pwfile"
        log_path = base / "postgres.log"
        _write_secret_file(pwfile, password + "\n", run_as)
        try:
            _run_setup(
                [
                    initdb,
                    f"--pgdata={data}",
                    "--username=postgres",
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=peer",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                what="initdb",
                cwd=base,
                log_path=base / "initdb.log",
                run_as=run_as,
                secret=password,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        sockdir = _socket_dir(base, ".s.PGSQL.65535", stack)
        if run_as is not None and sockdir != base:
            os.chown(sockdir, run_as.uid, run_as.gid)
        tls_settings: list[str] = []
        if tls is not None:
            # The server reads them as its own OS user, and refuses a key others can read.
            for source, target in ((tls.cert_file, base / "server.crt"), (tls.key_file, base / "server.key")):
                shutil.copyfile(source, target)
                target.chmod(0o600)
                if run_as is not None:
                    os.chown(target, run_as.uid, run_as.gid)
            tls_settings = ["-c", "ssl=on", "-c", f"ssl_cert_file={base / 'server.crt'}",
                            "-c", f"ssl_key_file={base / 'server.key'}"]  # fmt: skip
        hba_settings: list[str] = []
        if hba is not None:
            hba_path = base / "pg_hba.stack.conf"
            hba_path.write_text(hba)
            if run_as is not None:
                os.chown(hba_path, run_as.uid, run_as.gid)
            hba_settings = ["-c", f"hba_file={hba_path}"]
        log_settings: list[str] = []
        if log_statements:
            log_dir = base / "log"
            log_dir.mkdir()
            if run_as is not None:
                os.chown(log_dir, run_as.uid, run_as.gid)
            log_settings = [f"-c{setting}" for setting in (
                "logging_collector=on", "log_destination=csvlog", f"log_directory={log_dir}",
                "log_filename=statements.log", "log_rotation_age=0", "log_rotation_size=0", "log_statement=all",
            )]  # fmt: skip

        def launch(port: int) -> subprocess.Popen[bytes]:
            return _spawn(
                [
                    postgres,
                    "-D",
                    data,
                    "-p",
                    str(port),
                    "-k",
                    sockdir,
                    "-c",
                    f"listen_addresses={_HOST}",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                    "-c",
                    f"cluster_name=realdb-{safe}",
                    *tls_settings,
                    *log_settings,
                    *(part for setting in settings for part in ("-c", setting)),
                    *hba_settings,
                ],
                cwd=base,
                log_path=log_path,
                run_as=run_as,
                death_signal=signal.SIGINT,
            )

        def probe_for(port: int) -> Callable[[], None]:
            def probe() -> None:
                import psycopg

                try:
                    conn = psycopg.connect(
                        host=_HOST,
                        port=port,
                        user="postgres",
                        password=password,
                        dbname="postgres",
                        connect_timeout=2,
                    )
                except psycopg.OperationalError as exc:
                    if "password authentication failed" in str(exc):
                        raise _FatalProbeError("password authentication failed") from None
                    raise
                with conn:
                    conn.execute("SELECT 1")

            return probe

        port = _start_with_free_port(
            launch,
            probe_for,
            stop_signal=signal.SIGINT,  # "fast" shutdown
            stack=stack,
            what="PostgreSQL",
            log_path=log_path,
            timeout=startup_timeout,
            secret=password,
        )
        server = RunningServer(
            engine="postgresql",
            host=_HOST,
            port=port,
            admin_user="postgres",
            admin_password=password,
            database="postgres",
            statement_log=base / "log" / "statements.csv" if log_statements else None,
        )
        return server, stack.pop_all().close
    raise AssertionError("unreachable")  # pragma: no cover  (for type checkers)


@contextlib.contextmanager
def postgres_server(
    name: str = "realdb",
    *,
    version: int = postgres_builds.DEBIAN_MAJOR,
    workdir: Path | None = None,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    tls: ServerTls | None = None,
    log_statements: bool = False,
    settings: Sequence[str] = (),
    hba: str | None = None,
) -> Iterator[RunningServer]:
    """Context manager around :func:`start_postgres` (default workdir: system temp)."""
    yield from _running(functools.partial(start_postgres, version=version), name, workdir, startup_timeout, tls=tls,
                        log_statements=log_statements, settings=settings, hba=hba)  # fmt: skip


def _running(
    start: Callable[..., tuple[RunningServer, Callable[[], None]]],
    name: str,
    workdir: Path | None,
    startup_timeout: float,
    **options: object,
) -> Iterator[RunningServer]:
    server, stop = start(workdir or Path(tempfile.gettempdir()), name, startup_timeout=startup_timeout, **options)
    try:
        yield server
    finally:
        stop()


# --------------------------------------------------------------------------
# MariaDB


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
