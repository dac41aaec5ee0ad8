"""Langflow itself for the real-server tests: `langflow-base` of the release the stack runs
(`topology.catalog.LANGFLOW_VERSION`) with its PostgreSQL drivers, installed from the lock
`images/langflow/requirements.txt` (every package pinned, with hashes) into a virtualenv of its own
outside the checkout (`ENGARDE_LANGFLOW_ROOT`, default `/var/cache/engarde-langflow`), kept between runs:

    python3 -m tests.realdb.langflow_builds      (`make deps` runs it)

Idempotent: a virtualenv whose marker names the lock it was installed from is left alone; one from
another lock is replaced. Standard library only (it runs before the project's virtualenv exists).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from topology.catalog import LANGFLOW_VERSION

ROOT_ENV = "ENGARDE_LANGFLOW_ROOT"
DEFAULT_ROOT = Path("/var/cache/engarde-langflow")
MARKER = "ENGARDE_LOCK"
INSTALL_COMMAND = "make deps"
LOCK = Path(__file__).resolve().parents[2] / "images" / "langflow" / "requirements.txt"


def root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def lock_digest() -> str:
    """What the marker holds: the Langflow release and the sha256 of the lock it was installed from."""
    return f"{LANGFLOW_VERSION} {hashlib.sha256(LOCK.read_bytes()).hexdigest()}"


def langflow_bin(version: str = LANGFLOW_VERSION) -> Path:
    return root() / version / "bin" / "langflow"


def installed(version: str = LANGFLOW_VERSION) -> bool:
    marker = root() / version / MARKER
    return marker.is_file() and marker.read_text().strip() == lock_digest() and langflow_bin(version).is_file()


def install(version: str = LANGFLOW_VERSION) -> Path:
    """The virtualenv installed from the lock, made anew unless it is current (about 2 GB of wheels from
    PyPI the first time)."""
    target = root() / version
    if installed(version):
        return target
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--require-hashes", "--no-deps", "-r", str(LOCK)], check=True)
    (target / MARKER).write_text(lock_digest() + "\n")
    return target


if __name__ == "__main__":
    print(f"langflow-base {LANGFLOW_VERSION}: {install()}")
