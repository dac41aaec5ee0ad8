"""Terraform on the configuration benchmarks/terraform.py makes from the program's capture, against real PostgreSQL 15.

The provider is cyrilgdn/terraform-provider-postgresql 1.27.0 from the toolchain's Terraform mirror (the one
pulumi-postgresql bridges); without it, or without `terraform`, the test fails naming what is missing, as the
end-to-end tests do for the postgresql and mysql plugins. `terraform apply` must leave the catalog the stack
declares (`review audit` finds nothing) and exactly the one the stack's own SQL leaves (the model's create steps,
applied to the same servers emptied again: roles, memberships, schemas, objects and their owners, privileges and
default privileges), and `terraform destroy` must remove everything but the audit table, which the program's
script never drops either.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import pytest

from benchmarks.deploy import PSQL, config_for, drop_audit_table
from benchmarks.terraform import missing_terraform, terraform_config, terraform_dir
from review.audit.checks import audit_servers
from tests.e2e.conftest import STACK, program_capture
from tests.realdb.conftest import (
    POSTGRES,
    STACK_DATABASES,
    Servers,
    apply_all,
    require_packages,
    snapshot,
    stack_servers_handed_over,
)
from tests.realdb.servers import POSTGRES_PACKAGE, postgres_server
from topology import load_topology

SERVICES = 2
"""The bench's shape, small: the dev layout plus two services reading two schemas of main."""


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    missing = missing_terraform()
    if missing:
        pytest.fail(missing)
    require_packages(POSTGRES_PACKAGE)
    with contextlib.ExitStack() as stack:
        yield Servers(
            main=stack.enter_context(postgres_server("tf-main")),
            flowdb=stack.enter_context(postgres_server("tf-flowdb")),
            scheduler=None,
        )


def roles_but_the_admin(servers: Servers) -> dict[str, list[str]]:
    found = {}
    for name in POSTGRES:
        with psycopg.connect(servers[name].dsn("postgres")) as connection:
            rows = connection.execute(
                "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> current_user ORDER BY 1"
            ).fetchall()
        found[name] = [role for (role,) in rows]
    return found


def test_terraform_applies_the_catalog_the_stacks_sql_does_and_destroys_it(servers: Servers) -> None:
    config = config_for(servers, SERVICES)
    capture = program_capture(config)
    topology = load_topology(config, STACK)
    generated = terraform_config(capture, psql=PSQL)
    stack_servers_handed_over(servers)
    with terraform_dir(generated) as terraform:
        terraform.apply()
        assert sorted(terraform.state_addresses()) == sorted(generated.addresses.values())
        dsns = {name: servers[name].dsn(STACK_DATABASES[name]) for name in POSTGRES}
        assert audit_servers(topology, dsns) == []
        by_terraform = snapshot(servers, topology, of=POSTGRES)
        assert roles_but_the_admin(servers)["main"]

        drop_audit_table(servers)
        terraform.destroy()
        assert terraform.state_addresses() == []
        assert roles_but_the_admin(servers) == {name: [] for name in POSTGRES}

    stack_servers_handed_over(servers)
    apply_all(capture, topology, servers, apply_to=POSTGRES)
    assert snapshot(servers, topology, of=POSTGRES) == by_terraform
