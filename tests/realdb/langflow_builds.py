"""Langflow itself for the real-server tests: `langflow-base` of the release the stack runs
(`topology.catalog.LANGFLOW_VERSION`), from PyPI, in a virtualenv of its own outside the checkout
(`ENGARDE_LANGFLOW_ROOT`, default `/var/cache/engarde-langflow`), kept between runs:

    python3 -m tests.realdb.langflow_builds

Idempotent: a virtualenv whose marker names the version is left alone; one of another version is
replaced. Standard library only (CI runs it before the project's virtualenv exists).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from topology.catalog import LANGFLOW_VERSION

ROOT_ENV = "ENGARDE_LANGFLOW_ROOT"
DEFAULT_ROOT = Path("/var/cache/engarde-langflow")
MARKER = "ENGARDE_VERSION"
INSTALL_COMMAND = "python3 -m tests.realdb.langflow_builds"


def root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


DRIVERS = ("psycopg2-binary==2.9.10", "psycopg[binary]==3.3.9")
"""The database drivers Langflow's `postgresql://` URL loads (psycopg2 for its migrations, psycopg 3 for
its async engine), installed beside langflow-base."""
DRIVER_MODULES = ("psycopg2", "psycopg")


def langflow_bin(version: str = LANGFLOW_VERSION) -> Path:
    return root() / version / "bin" / "langflow"


def _langflow_installed(version: str) -> bool:
    marker = root() / version / MARKER
    return marker.is_file() and marker.read_text().strip() == version and langflow_bin(version).is_file()


def _drivers_installed(version: str) -> bool:
    site = root() / version / "lib"
    return all(any(site.glob(f"python3*/site-packages/{module}")) for module in DRIVER_MODULES)


def installed(version: str = LANGFLOW_VERSION) -> bool:
    return _langflow_installed(version) and _drivers_installed(version)


def install(version: str = LANGFLOW_VERSION) -> Path:
    """The virtualenv with `langflow-base==version` and its drivers, made or completed if missing (about
    2 GB of wheels from PyPI the first time)."""
    target = root() / version
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    if not _langflow_installed(version):
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, f"langflow-base=={version}", *DRIVERS], check=True)
        (target / MARKER).write_text(version + "\n")
    elif not _drivers_installed(version):
        # A virtualenv made before the drivers were listed: langflow-base of PyPI brings no PostgreSQL
        # driver, and SQLAlchemy's `postgresql://` needs one per engine Langflow opens.
        subprocess.run([*pip, *DRIVERS], check=True)
    return target


if __name__ == "__main__":
    print(f"langflow-base {LANGFLOW_VERSION}: {install()}")
