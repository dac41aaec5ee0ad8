"""What a real deployment costs: the Pulumi engine, Terraform on the same provider, and the same SQL run by hand.

    python benchmarks/deploy.py [--services 0,20,60] [--runs 1] [--json]

For each N (extra services, each reading two schemas of main), on fresh PostgreSQL 15 servers (main and
flowdb, the bootstrap superuser as admin):

* Pulumi: `up` from nothing, a no-change `up`, `preview`, and `destroy`, each through the Automation API
  (the audit table, which its provider never drops, is dropped by hand before the destroy);
* Terraform: the same PostgreSQL resources on the same provider (cyrilgdn/terraform-provider-postgresql,
  which pulumi-postgresql bridges), configured by `benchmarks/terraform.py` from the program's own capture
  with the same dependencies and the same connection pool: `terraform apply` from nothing (its default
  parallelism, 10) and `terraform destroy -refresh=false` (the audit table dropped by hand first, as for
  Pulumi). The provider comes from the Terraform mirror in the toolchain directory; without it the Terraform
  columns say n/a (null in JSON) and the line below the table says why;
* the floor: the same create statements (`review plan --format sql`'s, with the model's context read
  from the servers) applied by one `psql` session per server, one after the other;
* up/terraform and up/floor for the `up` from nothing; the critical path (the longest chain of resources,
  each waiting for the one before it); and per deployed resource (the PostgreSQL roles, schemas, grants,
  default privileges and SQL scripts both tools create) the milliseconds of `up` and of `apply`.

Each tool starts from the same empty servers: between them the stack's databases are dropped and created
again, and every role but the admin dropped. `--runs R` gives the median of R runs of each (default 1, to
keep it short). MySQL: the stack's scheduler resources run on MariaDB 10.5 in `make e2e`
(tests/e2e/mariadb.py); this bench is about PostgreSQL, so they are left out of every `up` (excluded with
their dependents) and of Terraform's configuration (nor is a mysql provider in the mirror); the scheduler
points at a MariaDB of the host that no resource reaches. Declared `maxConnections` grows with N (the
connection budget); the servers run 200. Needs the toolchain's postgresql and random plugins
(`make toolchain`). A report, not a test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psycopg

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from benchmarks.harness import superuser_servers, timed  # noqa: E402
from benchmarks.program import critical_path, services_config, step_dependencies  # noqa: E402
from benchmarks.terraform import (  # noqa: E402
    TerraformConfig,
    TerraformDir,
    missing_terraform,
    terraform_config,
    terraform_dir,
)
from components.audit import AUDIT_TABLE  # noqa: E402
from review.capture.plan import Plan  # noqa: E402
from review.views.sql import sql_steps  # noqa: E402
from tests.e2e.conftest import PLUGINS, STACK, mysql_urns_of, program_capture  # noqa: E402
from tests.e2e.engine import EngineStack, engine_stack  # noqa: E402
from tests.realdb.conftest import (  # noqa: E402
    POSTGRES,
    STACK_DATABASES,
    Servers,
    external_config,
    live_server_context,
    stack_servers_handed_over,
)
from tests.realdb.servers import mariadb_server  # noqa: E402
from topology import load_topology  # noqa: E402
from topology.catalog import AUDIT_SCHEMA  # noqa: E402
from topology.sql import quote_ident  # noqa: E402

PSQL = "/usr/lib/postgresql/15/bin/psql"
DEFAULT_SERVICES = "0,20,60"
DEFAULT_RUNS = 1
TIMED = ("up_s", "noop_up_s", "preview_s", "destroy_s", "floor_s", "terraform_apply_s", "terraform_destroy_s")
"""The seconds of each row (a median over the runs), in the JSON keys' order."""


def config_for(servers: Servers, count: int) -> dict[str, Any]:
    config = external_config(servers)
    extra = services_config(count)
    if extra:
        config["services"] = extra["services"]
        config["servers"]["main"]["maxConnections"] = extra["servers"]["main"]["maxConnections"] + 200
    return config


def drop_audit_table(servers: Servers) -> None:
    """What a destroy leaves to a person: the audit table (its script never drops it, for the data's sake)."""
    with psycopg.connect(servers.main.dsn(STACK_DATABASES["main"]), autocommit=True) as connection:
        connection.execute(f"DROP TABLE {quote_ident(AUDIT_SCHEMA)}.{quote_ident(AUDIT_TABLE)}")


def psql_script(steps: list[Any], default_database: str) -> str:
    lines = ["\\set ON_ERROR_STOP 1"]
    current = None
    for step in steps:
        database = step.database or default_database
        if database != current:
            lines.append(f"\\connect {database}")
            current = database
        body = [statement.rstrip().rstrip(";") + ";" for statement in step.statements]
        lines += ["BEGIN;", *body, "COMMIT;"] if step.transaction else body
    return "\n".join(lines) + "\n"


def floor_seconds(servers: Servers, config: dict[str, Any]) -> float:
    """One psql session per server applying the create statements, servers one after the other."""
    capture = program_capture(config)
    topology = load_topology(config, STACK)
    total = 0.0
    with tempfile.TemporaryDirectory() as directory:
        for name in POSTGRES:
            server = servers[name]
            context = live_server_context(capture, topology, server, name)
            script = Path(directory) / f"{name}.sql"
            script.write_text(psql_script(sql_steps(Plan(capture), name, context), STACK_DATABASES[name]))
            command = [PSQL, "-X", "-q", "-f", str(script), server.dsn(STACK_DATABASES[name])]
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            total += time.perf_counter() - started
    return total


def pulumi_run(engine: EngineStack, servers: Servers, excluded: list[str]) -> dict[str, float]:
    """`up` from nothing, a no-change `up`, `preview` and `destroy` (the MySQL resources excluded)."""
    times = {
        "up_s": timed(lambda: engine.stack.up(exclude=excluded, exclude_dependents=True)),
        "noop_up_s": timed(lambda: engine.stack.up(exclude=excluded, exclude_dependents=True)),
        "preview_s": timed(lambda: engine.stack.preview(exclude=excluded, exclude_dependents=True)),
    }
    drop_audit_table(servers)
    times["destroy_s"] = timed(lambda: engine.stack.destroy())
    return times


def terraform_run(workdir: TerraformDir, servers: Servers) -> dict[str, float]:
    """`terraform apply` from nothing and `terraform destroy -refresh=false`."""
    times = {"terraform_apply_s": timed(workdir.apply)}
    drop_audit_table(servers)
    times["terraform_destroy_s"] = timed(workdir.destroy)
    return times


@contextmanager
def terraform_for(generated: TerraformConfig) -> Iterator[TerraformDir | None]:
    """Terraform initialized with `generated`, or None when it cannot run here."""
    if missing_terraform():
        yield None
        return
    with terraform_dir(generated) as workdir:
        yield workdir


def measure(servers: Servers, count: int, runs: int) -> dict[str, Any]:
    """One N: the median of `runs` runs of each tool, each from the same empty servers."""
    config = config_for(servers, count)
    capture = program_capture(config)
    excluded = mysql_urns_of(capture)
    generated = terraform_config(capture, psql=PSQL)
    row: dict[str, Any] = {
        "services": count,
        "resources": len(capture.resources),
        "deployed_resources": len(generated.addresses),
        "critical_path": len(critical_path(step_dependencies(capture))),
        "runs": runs,
    }
    samples: dict[str, list[float]] = {key: [] for key in TIMED}
    with engine_stack(STACK, None, *PLUGINS) as engine, terraform_for(generated) as terraform:
        engine.configure(config)
        for _ in range(runs):
            stack_servers_handed_over(servers)
            for key, elapsed in pulumi_run(engine, servers, excluded).items():
                samples[key].append(elapsed)
            stack_servers_handed_over(servers)
            samples["floor_s"].append(floor_seconds(servers, config))
            if terraform is not None:
                stack_servers_handed_over(servers)
                for key, elapsed in terraform_run(terraform, servers).items():
                    samples[key].append(elapsed)
    stack_servers_handed_over(servers)
    for key in TIMED:
        row[key] = statistics.median(samples[key]) if samples[key] else None
    return row


def ratio(numerator: float | None, denominator: float | None) -> str:
    return f"{numerator / denominator:.1f}x" if numerator and denominator else "n/a"


def seconds(value: float | None) -> str:
    return f"{value:.1f}s" if value is not None else "n/a"


def per_resource(value: float | None, count: int) -> str:
    return f"{value * 1000 / count:.0f}" if value is not None and count else "n/a"


COLUMNS = (
    ("N", 3),
    ("resources", 9),
    ("deployed", 8),
    ("path", 4),
    ("up", 7),
    ("no-change up", 12),
    ("preview", 7),
    ("destroy", 7),
    ("floor", 6),
    ("tf apply", 8),
    ("tf destroy", 10),
    ("up/tf", 6),
    ("up/floor", 8),
    ("up ms/res", 9),
    ("tf ms/res", 9),
)
"""The text report's columns: title and width."""
HEADER = " ".join(f"{title:>{width}}" for title, width in COLUMNS)


def text_cells(row: dict[str, Any]) -> list[str]:
    """One cell per column of `COLUMNS`."""
    deployed = row["deployed_resources"]
    return [
        str(row["services"]),
        str(row["resources"]),
        str(deployed),
        str(row["critical_path"]),
        seconds(row["up_s"]),
        seconds(row["noop_up_s"]),
        seconds(row["preview_s"]),
        seconds(row["destroy_s"]),
        f"{row['floor_s']:.2f}s",
        seconds(row["terraform_apply_s"]),
        seconds(row["terraform_destroy_s"]),
        ratio(row["up_s"], row["terraform_apply_s"]),
        ratio(row["up_s"], row["floor_s"]),
        per_resource(row["up_s"], deployed),
        per_resource(row["terraform_apply_s"], deployed),
    ]


def text_row(row: dict[str, Any]) -> str:
    return " ".join(f"{cell:>{width}}" for cell, (_, width) in zip(text_cells(row), COLUMNS, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--services", default=DEFAULT_SERVICES, help=f"comma-separated numbers of extra services ({DEFAULT_SERVICES})"
    )
    parser.add_argument(
        "--runs", type=int, default=DEFAULT_RUNS, help=f"runs of each tool per N, the median is shown ({DEFAULT_RUNS})"
    )
    parser.add_argument("--json", action="store_true", help="one JSON list, an object per N, instead of the table")
    args = parser.parse_args(argv)
    counts = [int(part) for part in args.services.split(",")]
    if args.runs < 1:
        parser.error("--runs: at least 1")
    missing = missing_terraform()
    rows = []
    with ExitStack() as stack:
        servers = superuser_servers(stack, "bench", stack.enter_context(mariadb_server("bench-scheduler")))
        if not args.json:
            print(f"median of {args.runs} run(s) per N; ms/res: per deployed resource", flush=True)
            print(HEADER, flush=True)
        for count in counts:
            row = measure(servers, count, args.runs)
            rows.append(row)
            if not args.json:
                print(text_row(row), flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    if missing:
        print(f"Terraform: n/a, {missing}", file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
