"""The Terraform configuration made from the program's capture: types, arguments, providers, dependencies, secrets.

Offline: the capture of an external stack pointing at addresses nothing listens on. tests/e2e/test_terraform.py
applies a configuration with real Terraform to real servers.
"""

from __future__ import annotations

import dataclasses
import json
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from benchmarks.program import services_config
from benchmarks.terraform import (
    SQL_SCRIPT,
    TerraformConfig,
    literal,
    missing_terraform,
    provider_binary,
    snake_case,
    terraform_config,
    terraform_type,
)
from resource_types import (
    DYNAMIC_RESOURCE,
    MYSQL_GRANT,
    PG_DEFAULT_PRIVILEGES,
    PG_GRANT,
    PG_PHYSICAL_SLOT,
    PG_ROLE,
    PG_SCHEMA,
    POSTGRES_PROVIDER,
    POSTGRESQL_PREFIX,
    RANDOM_BYTES,
    RANDOM_PASSWORD,
)
from review.capture.plan import Plan
from review.capture.program import Capture, Resource, Secret, unwrap_secrets
from tests.conftest import cached_run_program
from topology.budget import PROVIDER_MAX_CONNECTIONS
from topology.scram import SCRAM_ITERATIONS

ENDPOINTS = {"main": ("127.0.0.1", 5491), "flowdb": ("127.0.0.1", 5492)}
ADMIN_PASSWORDS = {"main": "main-admin-Secret-1", "flowdb": "flowdb-admin-Secret-2"}


def external_capture(**overrides: Any) -> Capture:
    """The dev program on external servers (main, flowdb; the scheduler somewhere), as the bench configures it."""

    def server(name: str, database: str) -> dict[str, Any]:
        host, port = ENDPOINTS[name]
        return {"mode": "external", "host": host, "port": port, "database": database, "adminUser": "postgres",
                "sslmode": "disable", "superuser": True, "version": 15, "maxConnections": 200}  # fmt: skip

    config: dict[str, Any] = {
        "runContainers": False,
        "servers": {
            "main": server("main", "engarde"),
            "flowdb": server("flowdb", "langflow"),
            "scheduler": {
                "mode": "external",
                "host": "127.0.0.1",
                "port": 9,
                "adminUser": "root",
                "database": "easyappointments",
                "sslmode": "disable",
                "superuser": True,
            },
        },
        "mainAdminPassword": ADMIN_PASSWORDS["main"],
        "flowdbAdminPassword": ADMIN_PASSWORDS["flowdb"],
        "schedulerAdminPassword": "scheduler-admin-Secret-3",
        **overrides,
    }
    secret_keys = tuple(sorted(key for key in config if key.endswith("AdminPassword")))
    return cached_run_program(config, "dev", secret_keys=secret_keys)


@pytest.fixture(scope="module")
def capture() -> Capture:
    """The bench's shape: the dev layout plus two services, each reading two schemas of main."""
    return external_capture(services=services_config(2)["services"])


@pytest.fixture(scope="module")
def generated(capture: Capture) -> TerraformConfig:
    return terraform_config(capture)


def resources(generated: TerraformConfig) -> dict[str, dict[str, Any]]:
    """Terraform address -> its body."""
    return {
        f"{type_}.{name}": body
        for type_, blocks in generated.config["resource"].items()
        for name, body in blocks.items()
    }


def on_postgres_servers(capture: Capture) -> list[Resource]:
    plan = Plan(capture)
    return [
        r
        for r in capture.resources
        if r.custom
        and plan.server_of(r) in ("main", "flowdb")
        and (r.type.startswith(POSTGRESQL_PREFIX) or r.type == DYNAMIC_RESOURCE)
    ]


# Types and arguments


def test_each_pulumi_postgresql_type_is_the_cyrilgdn_resource_of_the_same_module() -> None:
    assert terraform_type(PG_DEFAULT_PRIVILEGES) == "postgresql_default_privileges"
    assert terraform_type(PG_GRANT) == "postgresql_grant"
    assert terraform_type(PG_ROLE) == "postgresql_role"
    assert terraform_type(PG_PHYSICAL_SLOT) == "postgresql_physical_replication_slot"
    with pytest.raises(ValueError, match="no postgresql resource"):
        terraform_type(MYSQL_GRANT)


def test_every_postgresql_resource_of_main_and_flowdb_is_there_once_under_its_terraform_type(
    capture: Capture, generated: TerraformConfig
) -> None:
    expected = on_postgres_servers(capture)
    assert sorted(generated.addresses) == sorted(r.urn for r in expected)
    for resource in expected:
        type_, _, name = generated.addresses[resource.urn].partition(".")
        assert type_ == (SQL_SCRIPT if resource.type == DYNAMIC_RESOURCE else terraform_type(resource.type))
        assert name == resource.name
    assert len(resources(generated)) == len(expected)


def test_what_terraform_does_not_get_is_counted_by_type(capture: Capture, generated: TerraformConfig) -> None:
    counts: dict[str, int] = {}
    for resource in capture.resources:
        if resource.custom and resource.urn not in generated.addresses and resource.type != POSTGRES_PROVIDER:
            counts[resource.type] = counts.get(resource.type, 0) + 1
    assert generated.left_out == counts
    assert generated.left_out[RANDOM_PASSWORD] == len(capture.by_type(RANDOM_PASSWORD))
    assert MYSQL_GRANT in generated.left_out


def test_arguments_are_the_inputs_in_snake_case_with_the_bridges_renames(
    capture: Capture, generated: TerraformConfig
) -> None:
    bodies = resources(generated)
    for resource in on_postgres_servers(capture):
        if resource.type == DYNAMIC_RESOURCE:
            continue
        body = bodies[generated.addresses[resource.urn]]
        renamed = {"searchPaths": "search_path"} if resource.type == PG_ROLE else {}
        expected = {renamed.get(key) or snake_case(key) for key in resource.inputs}
        assert set(body) - {"provider", "depends_on"} == expected, resource.urn
        for key, value in resource.inputs.items():
            if not isinstance(value, Secret):
                assert body[renamed.get(key) or snake_case(key)] == literal(value), (resource.urn, key)
    role = bodies["postgresql_role.main-engarde_app"]
    assert role["search_path"] == ["public"] and "search_paths" not in role
    assert role["connection_limit"] == 30 and isinstance(role["connection_limit"], int)
    default_privileges = bodies["postgresql_default_privileges.flowdb-public_read-default-tables"]
    assert default_privileges["object_type"] == "table" and default_privileges["owner"] == "langflow_app"


def test_a_literal_is_never_read_as_a_template() -> None:
    assert literal("DO $x$ ${var.a} %{ if } $x$") == "DO $x$ $${var.a} %%{ if } $x$"
    assert literal({"k": ["${a}", 3.0, 2.5, True]}) == {"k": ["$${a}", 3, 2.5, True]}


# Providers


def test_one_provider_per_server_with_the_stacks_connection_settings_and_pool(generated: TerraformConfig) -> None:
    blocks = {block["alias"]: block for block in generated.config["provider"]["postgresql"]}
    assert set(blocks) == {"main", "flowdb"}
    for server, (host, port) in ENDPOINTS.items():
        block = blocks[server]
        assert block["host"] == host and block["port"] == port and block["username"] == "postgres"
        assert block["database"] == {"main": "engarde", "flowdb": "langflow"}[server]
        assert block["superuser"] is True and block["sslmode"] == "disable" and block["connect_timeout"] == 30
        assert block["max_connections"] == PROVIDER_MAX_CONNECTIONS
        reference = block["password"]
        assert generated.variables[reference.removeprefix("${var.").removesuffix("}")] == ADMIN_PASSWORDS[server]
    required = generated.config["terraform"]["required_providers"]["postgresql"]
    assert required == {"source": "cyrilgdn/postgresql", "version": "1.27.0"}
    for address, body in resources(generated).items():
        if not address.startswith(SQL_SCRIPT):
            assert body["provider"] == f"postgresql.{address.split('.')[1].split('-')[0]}", address


def test_the_pool_size_can_be_overridden(capture: Capture) -> None:
    blocks = terraform_config(capture, pool_size=20).config["provider"]["postgresql"]
    assert [block["max_connections"] for block in blocks] == [20, 20]
    with pytest.raises(ValueError, match="pool_size"):
        terraform_config(capture, pool_size=0)


# Dependencies


def waits_for(generated: TerraformConfig) -> dict[str, set[str]]:
    """Capture URN -> the URNs its Terraform resource depends on."""
    urns = {address: urn for urn, address in generated.addresses.items()}
    bodies = resources(generated)
    return {urns[a]: {urns[d] for d in bodies[a].get("depends_on", [])} for a in bodies}


def test_each_resource_waits_for_exactly_what_the_engine_makes_it_wait_for(
    capture: Capture, generated: TerraformConfig
) -> None:
    plan = Plan(capture)
    generated_secrets = {r.urn for r in capture.resources if r.type in (RANDOM_PASSWORD, RANDOM_BYTES)}
    providers = {plan.provider_of_server(server).urn for server in ("main", "flowdb")}
    graph = waits_for(generated)
    for urn, dependencies in graph.items():
        assert dependencies == plan.prerequisites[urn] - generated_secrets - providers, urn
    # Explicit depends_on and input Outputs both count: the audit table's first grant waits for the table
    # (the chain), a login role for its group (an input Output), the table for its schema and owner.
    assert graph[urn_of(capture, PG_GRANT, "main-audit_append-schema")] >= {
        urn_of(capture, DYNAMIC_RESOURCE, "main-audit-log-table")
    }
    assert urn_of(capture, PG_ROLE, "main-audit_append") in graph[urn_of(capture, PG_ROLE, "main-engarde_app")]
    assert graph[urn_of(capture, DYNAMIC_RESOURCE, "main-audit-log-table")] == {
        urn_of(capture, PG_SCHEMA, "main-audit"),
        urn_of(capture, PG_ROLE, "main-audit_owner"),
    }


def test_everything_that_grants_on_a_server_is_one_chain(capture: Capture, generated: TerraformConfig) -> None:
    """components/ordering.py: no two grants, default privileges, schemas or scripts of a server unordered."""
    graph = waits_for(generated)
    before = {urn: closure(graph, urn) for urn in graph}
    plan = Plan(capture)
    chained = (PG_GRANT, PG_DEFAULT_PRIVILEGES, PG_SCHEMA, DYNAMIC_RESOURCE)
    for server in ("main", "flowdb"):
        links = [
            r.urn for r in map(plan.by_urn().get, graph) if r and r.type in chained and plan.server_of(r) == server
        ]
        assert len(links) >= 5
        for i, first in enumerate(links):
            for second in links[i + 1 :]:
                assert first in before[second] or second in before[first], (first, second)


def test_without_the_grant_chain_grants_run_unordered_but_still_after_what_they_name(capture: Capture) -> None:
    """`grant_chain=False` (benchmarks/deadlock.py): many pairs of grants unordered, each still after its schema
    and roles; everything else as with the chain."""
    unchained = waits_for(terraform_config(capture, grant_chain=False))
    chained = waits_for(terraform_config(capture))
    by_urn = Plan(capture).by_urn()
    grants = [urn for urn in unchained if by_urn[urn].type in (PG_GRANT, PG_DEFAULT_PRIVILEGES)]
    before = {urn: closure(unchained, urn) for urn in grants}
    unordered = [
        (a, b) for i, a in enumerate(grants) for b in grants[i + 1 :] if a not in before[b] and b not in before[a]
    ]
    assert len(unordered) > len(grants)
    for urn in grants:
        # Each waits for its grantee (PUBLIC's revokes name no role).
        assert by_urn[urn].inputs.get("role") == "public" or PG_ROLE in {by_urn[d].type for d in unchained[urn]}, urn
        assert unchained[urn] <= chained[urn]
    assert {urn: deps for urn, deps in unchained.items() if urn not in grants} == {
        urn: deps for urn, deps in chained.items() if urn not in grants
    }


def test_a_dependency_terraform_would_not_hold_is_refused_not_dropped(capture: Capture) -> None:
    grant = urn_of(capture, PG_GRANT, "main-audit_append-schema")
    mysql = capture.by_type(MYSQL_GRANT)[0].urn
    changed = with_resource(capture, grant, lambda r: dataclasses.replace(r, depends_on=[*r.depends_on, mysql]))
    with pytest.raises(ValueError, match=r"main-audit_append-schema waits for .*mysql"):
        terraform_config(changed)


def test_an_adopted_resource_is_refused(capture: Capture) -> None:
    role = urn_of(capture, PG_ROLE, "main-engarde_app")
    changed = with_resource(capture, role, lambda r: dataclasses.replace(r, import_id="engarde_app"))
    with pytest.raises(ValueError, match="main-engarde_app: import"):
        terraform_config(changed)


# Secrets


def test_no_secret_value_is_in_main_tf_json(capture: Capture, generated: TerraformConfig, tmp_path: Path) -> None:
    generated.write(tmp_path)
    text = (tmp_path / "main.tf.json").read_text()
    assert json.loads(text) == generated.config
    captured_secrets = {str(v.value) for r in capture.resources for v in secrets_of(r.inputs)}
    for value in [*generated.variables.values(), *captured_secrets]:
        assert value not in text
    assert json.loads((tmp_path / "terraform.tfvars.json").read_text()) == generated.variables
    assert stat.S_IMODE((tmp_path / "terraform.tfvars.json").stat().st_mode) == 0o600
    assert ADMIN_PASSWORDS["main"] not in repr(generated)


def test_every_secret_is_a_declared_sensitive_variable_with_a_value(generated: TerraformConfig) -> None:
    declared = generated.config["variable"]
    assert set(declared) == set(generated.variables)
    assert all(spec == {"type": "string", "sensitive": True, "nullable": False} for spec in declared.values())
    text = json.dumps(generated.config["resource"]) + json.dumps(generated.config["provider"])
    assert all(f"${{var.{name}}}" in text for name in declared)


def test_a_roles_password_is_a_fresh_scram_verifier_not_the_mocks_one(
    capture: Capture, generated: TerraformConfig
) -> None:
    role = next(r for r in capture.by_type(PG_ROLE) if r.name == "main-engarde_app")
    body = resources(generated)["postgresql_role.main-engarde_app"]
    value = generated.variables[body["password"].removeprefix("${var.").removesuffix("}")]
    assert value.startswith(f"SCRAM-SHA-256${SCRAM_ITERATIONS}:")
    assert value != unwrap_secrets(role.inputs["password"])
    assert terraform_config(capture).variables != generated.variables


# The SQL scripts


def test_the_audit_table_script_runs_its_sql_with_psql_in_one_transaction_on_mains_admin_connection(
    capture: Capture, generated: TerraformConfig
) -> None:
    script = next(r for r in capture.by_type(DYNAMIC_RESOURCE) if r.name == "main-audit-log-table")
    body = resources(terraform_config(capture, psql="/usr/bin/psql"))[f"{SQL_SCRIPT}.main-audit-log-table"]
    (provisioner,) = body["provisioner"]
    run = provisioner["local-exec"]
    assert run["interpreter"][0] == "/usr/bin/psql" and "--single-transaction" in run["interpreter"]
    assert run["interpreter"][-1] == "-c" and run["command"] == literal(script.inputs["sql"])
    host, port = ENDPOINTS["main"]
    environment = run["environment"]
    assert (environment["PGHOST"], environment["PGPORT"]) == (host, str(port))
    assert (environment["PGUSER"], environment["PGDATABASE"]) == ("postgres", "engarde")
    main_password = generated.config["provider"]["postgresql"][0]["password"]
    assert environment["PGPASSWORD"] == main_password
    assert body["triggers_replace"]["sql"] == literal(script.inputs["sql"])


# Helpers


def urn_of(capture: Capture, type_: str, name: str) -> str:
    (found,) = [r.urn for r in capture.by_type(type_) if r.name == name]
    return found


def closure(graph: Mapping[str, set[str]], urn: str) -> set[str]:
    seen: set[str] = set()
    pending = list(graph[urn])
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            pending.extend(graph[current])
    return seen


def with_resource(capture: Capture, urn: str, change: Any) -> Capture:
    return dataclasses.replace(capture, resources=[change(r) if r.urn == urn else r for r in capture.resources])


def secrets_of(value: Any) -> list[Secret]:
    if isinstance(value, Secret):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in secrets_of(item)]
    if isinstance(value, list):
        return [s for item in value for s in secrets_of(item)]
    return []


def test_without_the_mirror_terraform_is_missing_naming_where_the_provider_goes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ENGARDE_TOOLCHAIN_DIR", str(tmp_path))
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    missing = missing_terraform()
    assert missing is not None and "cyrilgdn/postgresql 1.27.0 is not in the Terraform mirror" in missing
    assert str(tmp_path / "terraform-mirror/registry.terraform.io/cyrilgdn/postgresql/1.27.0/linux_amd64") in missing
    provider = provider_binary()
    provider.parent.mkdir(parents=True)
    provider.touch()
    assert missing_terraform() is None
