"""What the grant chain prevents (components/ordering.py), shown with Terraform on the same provider.

    python benchmarks/deadlock.py [--services 20] [--applies 5]

Applies the stack's PostgreSQL resources with N services from nothing, several times, with Terraform driving the
same provider (benchmarks/terraform.py) on fresh PostgreSQL 15 or 17 servers (a superuser or a managed admin),
three ways: with the stack's grant chain and its pool of 4, with the chain and a pool of 20, and without the chain
(each grant waits only for what its inputs name) with a pool of 20. Prints how many applies failed, and how many of
the failures were the provider's `40P01 could not get advisory lock`. A report, not a test: a race shows itself or not.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from benchmarks.deploy import config_for  # noqa: E402
from benchmarks.terraform import TerraformError, missing_terraform, terraform_config, terraform_dir  # noqa: E402
from tests.e2e.conftest import program_capture  # noqa: E402
from tests.realdb.conftest import POSTGRES, Servers, handed_over_to_the_admin  # noqa: E402
from tests.realdb.matrix import Combination, stack_admin  # noqa: E402
from tests.realdb.servers import postgres_server  # noqa: E402

SQLSTATE = re.compile(r"\(([0-9A-Z]{5})\)")
"""The provider's errors end with the server's SQLSTATE in parentheses: `pq: ... (40P01)`."""
WAYS = (("grant chain, pool 4 (the stack's)", True, None), ("grant chain, pool 20", True, 20),
        ("no grant chain, pool 20", False, 20))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=20, help="extra services (default 20)")
    parser.add_argument("--applies", type=int, default=5, help="applies from nothing per way (default 5)")
    parser.add_argument("--version", type=int, default=15, choices=(15, 17), help="PostgreSQL major (default 15)")
    parser.add_argument("--admin", default="superuser", choices=("superuser", "managed"), help="the stack's admin")
    parser.add_argument("--ways", default="0,1,2", help="which ways, by their index in the table (default all)")
    parser.add_argument("--parallelism", type=int, default=None, help="terraform apply -parallelism (default 10)")
    args = parser.parse_args(argv)
    missing = missing_terraform()
    if missing:
        print(f"Terraform cannot run here: {missing}")
        return 1
    with ExitStack() as stack:
        combination = Combination(args.version, args.admin)
        bootstrap = {name: stack.enter_context(postgres_server(f"deadlock-{name}", version=args.version))
                     for name in POSTGRES}  # fmt: skip
        admins = {name: stack_admin(server, combination) for name, server in bootstrap.items()}
        servers = Servers(main=admins["main"], flowdb=admins["flowdb"], scheduler=None, combination=combination,
                          superusers=bootstrap)  # fmt: skip
        capture = program_capture(config_for(servers, args.services))
        parallelism = args.parallelism or "default (10)"
        print(f"PostgreSQL {args.version}, {args.admin} admin, {args.services} services, parallelism {parallelism}")
        print(f"{'way':<36} {'applies':>7} {'failed':>6} {'40P01':>5}")
        errors: Counter[str] = Counter()
        for label, chain, pool in (WAYS[int(index)] for index in args.ways.split(",")):
            failed = deadlocks = 0
            for _ in range(args.applies):
                handed_over_to_the_admin(servers)
                with terraform_dir(terraform_config(capture, pool_size=pool, grant_chain=chain)) as workdir:
                    try:
                        workdir.apply(args.parallelism)
                    except TerraformError as error:
                        failed += 1
                        deadlocks += "40P01" in str(error)
                        errors.update(SQLSTATE.findall(str(error)) or ["other"])
            print(f"{label:<36} {args.applies:>7} {failed:>6} {deadlocks:>5}", flush=True)
        if errors:
            print("failures by SQLSTATE: " + ", ".join(f"{code} x{count}" for code, count in errors.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
