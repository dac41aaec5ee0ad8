"""Debian's prometheus-postgres-exporter, run on a DSN with a queries file, and its metrics read back."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.prerequisites import missing_prerequisite

EXPORTER = shutil.which("prometheus-postgres-exporter") or "/usr/bin/prometheus-postgres-exporter"
METRIC = re.compile(r"^(?P<name>[a-z_:]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def run_exporter(dsn: str, queries: str, directory: Path, name: str, server_version: int = 15) -> Iterator[str]:
    """The exporter on `dsn` with `queries` as its extend.query-path file; yields its metrics URL.

    Debian's exporter (0.11) predates PostgreSQL 17, whose pg_stat_bgwriter lost the checkpoint
    columns its bgwriter collector reads: on 17+ that collector is off (the image the stack pins is newer)."""
    if not Path(EXPORTER).exists():
        missing_prerequisite("prometheus-postgres-exporter (the exporter tests)")
    path = directory / f"{name}-queries.yaml"
    path.write_text(queries)
    port = _free_port()
    process = subprocess.Popen(
        [
            EXPORTER,
            f"--web.listen-address=127.0.0.1:{port}",
            *(["--no-collector.bgwriter"] if server_version >= 17 else []),
        ],
        env={"DATA_SOURCE_NAME": dsn, "PG_EXPORTER_EXTEND_QUERY_PATH": str(path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        for _ in range(100):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url, timeout=5).close()
                break
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
        # The exporter logs query errors: the custom queries must all run as engarde_monitor.
        assert b"level=error" not in stderr, stderr.decode(errors="replace")[-2000:]


def scrape(url: str) -> dict[str, dict[str, float]]:
    """metric name -> {label text: value}"""
    body = urllib.request.urlopen(url, timeout=30).read().decode()
    metrics: dict[str, dict[str, float]] = {}
    for line in body.splitlines():
        match = METRIC.match(line)
        if match:
            metrics.setdefault(match["name"], {})[match["labels"] or ""] = float(match["value"])
    return metrics


def value(metrics: dict[str, dict[str, float]], name: str, **labels: str) -> float:
    wanted = [f'{key}="{label}"' for key, label in labels.items()]
    found = [v for text, v in metrics.get(name, {}).items() if all(w in text.split(",") for w in wanted)]
    assert len(found) == 1, f"{name}{labels}: {metrics.get(name)}"
    return found[0]
