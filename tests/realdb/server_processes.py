"""What every throwaway server of the tests shares: its connection details, and starting, waiting for and
stopping its process (a free 127.0.0.1 port, a fresh temporary directory, its log, its secrets masked).

The engines' own harnesses (`postgres_servers`, `mariadb_servers`) and the pooler's and standby's build on it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

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


@dataclass(frozen=True)
class ServerTls:
    """A certificate and its key (PEM files) the server presents; TCP clients may then use TLS."""

    cert_file: Path
    key_file: Path


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


@dataclass(frozen=True)
class _OsUser:
    """An OS user a server process runs as, with its supplementary groups."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]


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


def _running(
    start: Callable[..., tuple[RunningServer, Callable[[], None]]],
    name: str,
    workdir: Path | None,
    startup_timeout: float,
    **options: object,
) -> Iterator[RunningServer]:
    """The body of a server's context manager: `start` it (default workdir: system temp), yield it, stop it."""
    server, stop = start(workdir or Path(tempfile.gettempdir()), name, startup_timeout=startup_timeout, **options)
    try:
        yield server
    finally:
        stop()
