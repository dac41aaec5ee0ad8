"""What the state backend costs a `pulumi up`: the same deployment on each backend, side by side.

    python benchmarks/backends.py [--services 20] [--backends file,s3,skip-checkpoints,postgres]

For N extra services (`benchmarks.program.services_config`) on fresh PostgreSQL 15 servers (main and flowdb,
the bootstrap superuser as admin; the MySQL resources left out, as `benchmarks/deploy.py` does), an `up`
from nothing and a no-change `up`, through the Automation API, on:

* `file`: the local file backend (`file://`), checkpointing after every step (the default);
* `s3`: Pulumi's DIY S3 backend on versitygw over loopback (tests/e2e/object_store.py; `make deps` installs it);
* `skip-checkpoints`: the file backend with `PULUMI_SKIP_CHECKPOINTS=true` (the state is written once, at the
  end: a crash loses the whole `up`, tests/e2e/test_state_backends.py);
* `postgres`: the DIY PostgreSQL backend (`postgres://`, a table in a database of a third server), which this
  CLI release (3.277) carries.

Also printed: the size of the state at the end (every checkpoint rewrites all of it). Pulumi Cloud (the
`httpstate` backend, which journals each step instead of rewriting the state) cannot run here: it is a hosted
service this machine cannot reach. A report, not a test: 2 cores shared with other jobs, one run per cell.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from benchmarks.deploy import config_for  # noqa: E402
from benchmarks.harness import superuser_servers, timed  # noqa: E402
from tests.e2e.conftest import PLUGINS, STACK, mysql_urns_of, program_capture  # noqa: E402
from tests.e2e.engine import engine_stack  # noqa: E402
from tests.e2e.object_store import ObjectStore, object_store, versitygw_path  # noqa: E402
from tests.realdb.conftest import Servers, stack_servers_handed_over  # noqa: E402
from tests.realdb.servers import RunningServer, postgres_server  # noqa: E402

BACKENDS = ("file", "s3", "skip-checkpoints", "postgres")
STATE_DATABASE = "pulumi_state"


def postgres_backend_url(server: RunningServer) -> str:
    user, password = quote(server.admin_user, safe=""), quote(server.admin_password, safe="")
    return f"postgres://{user}:{password}@{server.host}:{server.port}/{STATE_DATABASE}?sslmode=disable"


def measure(servers: Servers, count: int, env: Mapping[str, str], **up_options: Any) -> dict[str, float]:
    """An `up` from nothing and a no-change `up` with `env` (the CLI's) and `up_options` (`parallel=4`, ...)."""
    stack_servers_handed_over(servers)
    config = config_for(servers, count)
    excluded = mysql_urns_of(program_capture(config))
    with engine_stack(STACK, None, *PLUGINS, env=env) as engine:
        engine.configure(config)
        up = timed(lambda: engine.stack.up(exclude=excluded, exclude_dependents=True, **up_options))
        no_change = timed(lambda: engine.stack.up(exclude=excluded, exclude_dependents=True, **up_options))
        state = json.dumps(engine.stack.export_stack().deployment)
    return {"up": up, "no_change": no_change, "state_kb": len(state) / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=20, help="extra services (default 20)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help=f"comma-separated, of {', '.join(BACKENDS)}")
    args = parser.parse_args(argv)
    chosen = [name for name in args.backends.split(",") if name]
    unknown = [name for name in chosen if name not in BACKENDS]
    if unknown:
        parser.error(f"--backends: unknown {', '.join(unknown)}; allowed: {', '.join(BACKENDS)}")
    with ExitStack() as stack:
        servers = superuser_servers(stack, "bench")
        envs: dict[str, dict[str, str]] = {"file": {}, "skip-checkpoints": {"PULUMI_SKIP_CHECKPOINTS": "true"}}
        if "s3" in chosen:
            if not versitygw_path().is_file():
                raise SystemExit(f"backends: no versitygw at {versitygw_path()}: run `make deps`")
            store: ObjectStore = stack.enter_context(object_store(versitygw_path()))
            envs["s3"] = store.backend_env()
        if "postgres" in chosen:
            state_server = stack.enter_context(postgres_server("bench-state"))
            with psycopg.connect(state_server.dsn("postgres"), autocommit=True) as connection:
                connection.execute(f"CREATE DATABASE {STATE_DATABASE}")
            envs["postgres"] = {"PULUMI_BACKEND_URL": postgres_backend_url(state_server)}
        rows = {name: measure(servers, args.services, envs[name]) for name in chosen}
    print(f"N={args.services} extra services, one run per cell")
    print(f"{'':<22}" + "".join(f"{name:>18}" for name in chosen))
    for key, label, unit in (("up", "up from nothing", "s"), ("no_change", "no-change up", "s"),
                             ("state_kb", "state size", " KiB")):  # fmt: skip
        print(f"{label:<22}" + "".join(f"{rows[name][key]:>{18 - len(unit)}.1f}{unit}" for name in chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
