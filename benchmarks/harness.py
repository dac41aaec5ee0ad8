"""What the deployment benchmarks share: the servers they deploy to, and a stopwatch."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from tests.realdb.conftest import Servers
from tests.realdb.matrix import Combination
from tests.realdb.servers import RunningServer, postgres_server


def superuser_servers(stack: ExitStack, prefix: str, scheduler: RunningServer | None = None) -> Servers:
    """Fresh PostgreSQL 15 servers for main and flowdb (`<prefix>-main`, `<prefix>-flowdb`), each with a
    superuser admin, stopped when `stack` closes; `scheduler` as given."""
    return Servers(
        main=stack.enter_context(postgres_server(f"{prefix}-main")),
        flowdb=stack.enter_context(postgres_server(f"{prefix}-flowdb")),
        scheduler=scheduler,
        combination=Combination(15, "superuser"),
    )


def timed(action: Callable[[], Any]) -> float:
    """The seconds `action` takes."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start
