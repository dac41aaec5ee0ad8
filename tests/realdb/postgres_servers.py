"""Throwaway real PostgreSQL servers for tests: 15 from the Debian package, 16+ from a pinned build.

    with postgres_server("mytest") as pg:
        psycopg.connect(pg.dsn())

When running as root, PostgreSQL runs as the ``postgres`` OS user (it refuses root).
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tests.realdb import postgres_builds
from tests.realdb.server_processes import (
    _HOST,
    DEFAULT_STARTUP_TIMEOUT,
    RunningServer,
    ServerStartError,
    ServerTls,
    _executable,
    _FatalProbeError,
    _make_base_dir,
    _OsUser,
    _run_setup,
    _running,
    _safe_name,
    _socket_dir,
    _spawn,
    _start_with_free_port,
    _write_secret_file,
)

POSTGRES_PACKAGE = "postgresql-15"
PG_BINDIR = Path("/usr/lib/postgresql/15/bin")


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
