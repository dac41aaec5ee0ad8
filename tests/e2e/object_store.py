"""An S3-compatible object store on loopback, for Pulumi's DIY S3 backend: Versity's S3 gateway (versitygw).

versitygw serves the S3 API over a plain directory (its `posix` backend: each directory under the root is a
bucket, each file an object), checks every request's SigV4 signature against one access key, and is
Apache-2.0 Go built from its module with `go install` (no image, no download but Go modules). MinIO would be
the usual choice but is AGPL-3.0, and moto is a mock of AWS rather than a store.

    python3 -m tests.e2e.object_store    # install it (`make deps`; idempotent: a second run does nothing)

Stdlib only (scripts/deps runs it with the system Python, before ./venv exists).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from toolchain.build import toolchain_dir  # noqa: E402

MODULE = "github.com/versity/versitygw"
VERSION = "v1.8.0"
"""The newest release the Go module proxy serves (`go list -m -versions github.com/versity/versitygw`)."""
HOST = "127.0.0.1"
REGION = "us-east-1"
START_TIMEOUT = 20.0
PORT_ATTEMPTS = 5


def versitygw_path() -> Path:
    """Where `install` puts the binary: beside the Pulumi toolchain, one directory per version."""
    return toolchain_dir() / "versitygw" / VERSION / "versitygw"


def install() -> Path:
    """Build versitygw from its Go module into `versitygw_path()`, unless it is there already."""
    target = versitygw_path()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(target.parent), "GOFLAGS": "-modcacherw", "GOTOOLCHAIN": "local",
           "CGO_ENABLED": "0"}  # fmt: skip
    command = ["go", "install", "-trimpath", "-ldflags=-s -w", f"{MODULE}/cmd/versitygw@{VERSION}"]
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    if completed.returncode != 0 or not target.is_file():
        sys.stderr.write(completed.stdout + completed.stderr)
        raise SystemExit(f"object store: `{' '.join(command)}` failed")
    return target


@dataclass(frozen=True, repr=False)
class ObjectStore:
    """A running gateway with one bucket (no repr: it holds the secret key)."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    root: Path
    """The directory the gateway serves: `root / bucket / key` is the object `key`."""

    def __repr__(self) -> str:
        return f"ObjectStore({self.endpoint}/{self.bucket})"

    @property
    def backend_url(self) -> str:
        """`pulumi login`'s URL for the bucket (path-style: the bucket is not a host name here)."""
        return f"s3://{self.bucket}?endpoint={self.endpoint}&s3ForcePathStyle=true&region={REGION}"

    def backend_env(self) -> dict[str, str]:
        """What the CLI needs to use the bucket as its backend, in place of `pulumi login`."""
        return {
            "PULUMI_BACKEND_URL": self.backend_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": REGION,
        }

    def object_path(self, key: str) -> Path:
        return self.root / self.bucket / key


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """preexec_fn: the gateway goes when the test process does, however that ends (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def _answers(endpoint: str) -> bool:
    """Whether the gateway answers HTTP (an unsigned request gets 403: it is up and checks signatures)."""
    try:
        with urllib.request.urlopen(endpoint, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def object_store(binary: Path, bucket: str = "pulumi-state") -> Iterator[ObjectStore]:
    """versitygw on a free loopback port, serving a fresh directory holding one empty bucket, with a
    random key pair; everything is removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="object-store-"))
    try:
        root = base / "data"
        (root / bucket).mkdir(parents=True)
        log_path = base / "versitygw.log"
        access_key, secret_key = secrets.token_hex(10), secrets.token_urlsafe(30)
        # The keys go through the environment, not argv (which `ps` shows).
        env = {"PATH": os.environ.get("PATH", ""), "ROOT_ACCESS_KEY_ID": access_key,
               "ROOT_SECRET_ACCESS_KEY": secret_key}  # fmt: skip
        for _ in range(PORT_ATTEMPTS):
            port = _free_port()
            endpoint = f"http://{HOST}:{port}"
            with log_path.open("ab") as log:
                process = subprocess.Popen(
                    [str(binary), "--port", f"{HOST}:{port}", "--region", REGION, "--quiet", "posix", str(root)],
                    env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
                )  # fmt: skip
            deadline = time.monotonic() + START_TIMEOUT
            while process.poll() is None and not _answers(endpoint) and time.monotonic() < deadline:
                time.sleep(0.1)
            if process.poll() is None and _answers(endpoint):
                try:
                    yield ObjectStore(endpoint, bucket, access_key, secret_key, root)
                finally:
                    _stop(process)
                return
            _stop(process)
            if "address already in use" not in log_path.read_text(errors="replace").lower():
                break
        raise RuntimeError(f"versitygw did not start: {log_path.read_text(errors='replace')[-2000:]}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    print(f"object store: versitygw {VERSION} at {install()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
