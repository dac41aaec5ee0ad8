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


DRIVERS = ("psycopg2-binary==2.9.10",)
"""The database driver Langflow's `postgresql://` URL loads, installed beside langflow-base."""


def langflow_bin(version: str = LANGFLOW_VERSION) -> Path:
    return root() / version / "bin" / "langflow"


def installed(version: str = LANGFLOW_VERSION) -> bool:
    marker = root() / version / MARKER
    drivers = any((root() / version / "lib").glob("python3*/site-packages/psycopg2"))
    return marker.is_file() and marker.read_text().strip() == version and langflow_bin(version).is_file() and drivers


def install(version: str = LANGFLOW_VERSION) -> Path:
    """The virtualenv with `langflow-base==version`, made if missing (about 2 GB of wheels from PyPI)."""
    target = root() / version
    if installed(version):
        return target
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    # This machine's langflow-base install brought no PostgreSQL driver, and SQLAlchemy's
    # `postgresql://` needs psycopg2.
    subprocess.run([*pip, f"langflow-base=={version}", *DRIVERS], check=True)
    (target / MARKER).write_text(version + "\n")
    return target


if __name__ == "__main__":
    print(f"langflow-base {LANGFLOW_VERSION}: {install()}")
