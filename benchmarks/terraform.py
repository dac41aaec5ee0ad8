"""Terraform driving the same provider on the same resources: the program's capture as a Terraform configuration.

`terraform_config(capture)` turns what the program registers under the mocks (`review.capture.program`, as
`tests/e2e/conftest.py::program_capture(config)` runs it) into `main.tf.json` (Terraform's JSON syntax, made
here, no HCL by hand) and `terraform.tfvars.json` (the secret values), for the PostgreSQL resources of the
servers `main` and `flowdb`. The provider is the one pulumi-postgresql bridges, cyrilgdn/terraform-provider-postgresql
(1.27.0, read from the filesystem mirror under the toolchain directory: `$ENGARDE_TOOLCHAIN_DIR/terraform-mirror`,
layout `registry.terraform.io/cyrilgdn/postgresql/1.27.0/linux_amd64/`; nothing is downloaded).

What maps, and how:

* `postgresql:index/<x>:<X>` -> `postgresql_<x>` (snake_case), inputs camelCase -> snake_case, except where the
  bridge renamed an argument: a role's `searchPaths` is the provider's `search_path`, a schema's `policies` its
  `policy` blocks. Numbers the wire carries as floats are written as integers where they are whole.
* One `provider "postgresql"` per server (alias `main`, `flowdb`) with the settings of the stack's
  `postgresql.Provider` for it (components/servers.py: host, port, admin user and password, database, sslmode,
  superuser, connect_timeout, and `max_connections`, the pool, `PROVIDER_MAX_CONNECTIONS`; `pool_size`
  overrides it).
* `depends_on`: for each resource, exactly the custom resources the engine makes it wait for
  (`review.capture.plan.Plan.prerequisites`: explicit `depends_on`, which carries the grant chain of
  components/ordering.py, input Outputs, a component standing for every resource under it), less its provider
  (the `provider` argument says it). A dependency on a generated secret becomes one on what that secret waits
  for (nothing, today). A dependency on anything else Terraform does not get here is refused, not dropped.
* The SQL scripts (components/sql_script.py, the audit table, the cross-database reads; Python run by a Pulumi
  dynamic provider) -> `terraform_data` (Terraform's built-in resource, no provider to install) with a
  `local-exec` provisioner running the same SQL through `psql --single-transaction` on the same connection
  (libpq's PG* variables; the admin password from a sensitive variable), once on create, nothing on delete: the
  dynamic provider's create and delete. They are mapped rather than left out because they change the catalog
  privileges: the audit log's group grants `ON ALL TABLES IN SCHEMA audit` must find its table. What is not
  mapped: the dynamic provider's `read` (a refresh noticing the table gone) and its update on a changed script
  (`triggers_replace` re-runs it on a new SQL, host, port or database, as an update would).

What Terraform cannot have here, said rather than hidden:

* generated secrets: only the postgresql provider is in the mirror, no `random`. Each role's password is a
  SCRAM verifier of a fresh random password made when the configuration is generated (as RandomPassword would
  at apply time; the password itself is kept nowhere), and the admin passwords are the stack config's; each is
  a `sensitive` variable whose value is only in `terraform.tfvars.json` (mode 0600), never in `main.tf.json`;
* MySQL (the scheduler, no mysql provider in the mirror), the Docker resources, and PostgreSQL servers other
  than those asked for: left out, counted by type in `TerraformConfig.left_out`;
* refused (ValueError naming the resource), as the bench's stack uses none of them: adopted resources
  (`import`), `retainOnDelete`, `ignoreChanges`, a resource on a server's second provider, and the
  cross-database reads (`crossDatabaseReads`: a user mapping's secret options hold the password behind a
  flowdb role's verifier, which the generator makes afresh, so the two would no longer match).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resource_types import (
    DYNAMIC_RESOURCE,
    PG_DEFAULT_PRIVILEGES,
    PG_GRANT,
    PG_ROLE,
    PG_SCHEMA,
    POSTGRES_PROVIDER,
    POSTGRESQL_PREFIX,
    RANDOM_BYTES,
    RANDOM_PASSWORD,
)
from review.capture.plan import Plan
from review.capture.program import Capture, Resource, Secret
from toolchain.build import toolchain_dir
from topology.scram import scram_verifier

PROVIDER_SOURCE = "cyrilgdn/postgresql"
PROVIDER_VERSION = "1.27.0"
PROVIDER_ADDRESS = f"registry.terraform.io/{PROVIDER_SOURCE}"
REQUIRED_PROVIDER = {"source": PROVIDER_SOURCE, "version": PROVIDER_VERSION}
PLATFORM = "linux_amd64"
SERVERS = ("main", "flowdb")
SQL_SCRIPT = "terraform_data"
GRANT_TYPES = (PG_GRANT, PG_DEFAULT_PRIVILEGES)
"""What takes the provider's role locks (pgLockRole): the links of a server's grant chain."""
GENERATED = (RANDOM_PASSWORD, RANDOM_BYTES)
"""What the random provider makes: values Terraform gets as sensitive variables instead."""

RENAMED: Mapping[str, Mapping[str, str]] = {
    PG_ROLE: {"searchPaths": "search_path"},
    PG_SCHEMA: {"policies": "policy"},
}
"""Inputs the bridge named otherwise than the provider's snake_case (it pluralizes lists)."""
PROVIDER_SETTINGS: Mapping[str, type] = {
    "host": str,
    "port": int,
    "username": str,
    "database": str,
    "sslmode": str,
    "sslrootcert": str,
    "superuser": bool,
    "connect_timeout": int,
    "max_connections": int,
}
"""The provider settings the stack sets, with their Terraform types (the engine hands them over as strings)."""
SCRAM_PREFIX = "SCRAM-SHA-256$"
PASSWORD_BYTES = 24
SALT_BYTES = 18


@dataclass(frozen=True, repr=False)
class TerraformConfig:
    """A generated configuration (no repr: `variables` holds the secrets)."""

    config: dict[str, Any]
    """main.tf.json: no secret value in it."""
    variables: dict[str, str]
    """Sensitive variable -> its value: terraform.tfvars.json."""
    addresses: dict[str, str]
    """Capture URN -> Terraform address (`postgresql_grant.main-audit_append-schema`), for each resource mapped."""
    left_out: dict[str, int] = field(default_factory=dict)
    """Pulumi type -> how many of its resources Terraform does not get (see the module docstring)."""

    def __repr__(self) -> str:
        return f"TerraformConfig({len(self.addresses)} resources)"

    def write(self, directory: Path) -> None:
        """main.tf.json and terraform.tfvars.json (readable by its owner only) in `directory`."""
        (directory / "main.tf.json").write_text(json.dumps(self.config, indent=2, sort_keys=True) + "\n")
        descriptor = os.open(directory / "terraform.tfvars.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as tfvars:
            json.dump(self.variables, tfvars, indent=2, sort_keys=True)


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def terraform_type(pulumi_type: str) -> str:
    """`postgresql:index/defaultPrivileges:DefaultPrivileges` -> `postgresql_default_privileges`."""
    if not pulumi_type.startswith(POSTGRESQL_PREFIX):
        raise ValueError(f"{pulumi_type} is no postgresql resource")
    module = pulumi_type.removeprefix(POSTGRESQL_PREFIX).split(":")[0]
    return f"postgresql_{snake_case(module)}"


def terraform_name(pulumi_name: str) -> str:
    """A Terraform identifier for a Pulumi resource name (letters, digits, `_` and `-`; no leading digit)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", pulumi_name)
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


def literal(value: Any) -> Any:
    """A value as Terraform's JSON syntax reads it literally: `${` and `%{` escaped (every JSON string is a
    template there), whole floats as integers."""
    if isinstance(value, str):
        return value.replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [literal(item) for item in value]
    if isinstance(value, dict):
        return {key: literal(item) for key, item in value.items()}
    return value


def fresh_secret(value: str) -> str:
    """A new value of the kind the random provider would make at apply time: a SCRAM verifier of a fresh
    password for a verifier, else a fresh password."""
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    return scram_verifier(password, secrets.token_bytes(SALT_BYTES)) if value.startswith(SCRAM_PREFIX) else password


class _Generator:
    def __init__(
        self, capture: Capture, servers: Sequence[str], pool_size: int | None, psql: str, grant_chain: bool
    ) -> None:
        self.plan = Plan(capture)
        self.servers = tuple(servers)
        self.pool_size = pool_size
        self.psql = psql
        self.grant_chain = grant_chain
        self.variables: dict[str, str] = {}
        self.addresses: dict[str, str] = {}
        self.left_out: dict[str, int] = {}

    def mapped(self, resource: Resource) -> bool:
        if self.plan.server_of(resource) not in self.servers:
            return False
        return resource.type.startswith(POSTGRESQL_PREFIX) or resource.type == DYNAMIC_RESOURCE

    def generate(self) -> TerraformConfig:
        providers = {server: self.plan.provider_of_server(server) for server in self.servers}
        resources = [r for r in self.plan.canonical_order if r.custom and self.mapped(r)]
        for resource in resources:
            address = f"{self.type_of(resource)}.{terraform_name(resource.name)}"
            if address in self.addresses.values():
                raise ValueError(f"{resource.urn}: a second resource would be {address}")
            self.addresses[resource.urn] = address
        for resource in self.plan.resources:
            if resource.custom and resource.urn not in self.addresses and resource not in providers.values():
                self.left_out[resource.type] = self.left_out.get(resource.type, 0) + 1
        provider_blocks = [self.provider_block(server, provider) for server, provider in providers.items()]
        blocks: dict[str, dict[str, Any]] = {}
        for resource in resources:
            type_, _, name = self.addresses[resource.urn].partition(".")
            blocks.setdefault(type_, {})[name] = self.body(resource)
        config = {
            "terraform": {"required_providers": {"postgresql": REQUIRED_PROVIDER}},
            "provider": {"postgresql": provider_blocks},
            "resource": blocks,
            "variable": {name: {"type": "string", "sensitive": True, "nullable": False} for name in self.variables},
        }
        return TerraformConfig(config, dict(self.variables), dict(self.addresses), dict(self.left_out))

    def type_of(self, resource: Resource) -> str:
        return SQL_SCRIPT if resource.type == DYNAMIC_RESOURCE else terraform_type(resource.type)

    def variable(self, name: str, value: str) -> str:
        """A reference to the sensitive variable holding `value` (one variable per distinct value)."""
        for existing, held in self.variables.items():
            if held == value:
                return f"${{var.{existing}}}"
        variable = terraform_name(name).replace("-", "_")
        if variable in self.variables:
            raise ValueError(f"two secrets would be the variable {variable}")
        self.variables[variable] = value
        return f"${{var.{variable}}}"

    def secret(self, resource: Resource, key: str, value: Secret) -> str:
        held = value.value
        if not isinstance(held, str):
            raise ValueError(f"{resource.urn}: secret input {key} is no string (a user mapping's options): not mapped")
        generated = {urn for urn in resource.property_dependencies.get(key, ()) if self.is_generated(urn)}
        return self.variable(f"{resource.name}_{snake_case(key)}", fresh_secret(held) if generated else held)

    def is_generated(self, urn: str) -> bool:
        dependency = self.plan.by_urn().get(urn)
        return dependency is not None and dependency.type in GENERATED

    def provider_block(self, server: str, provider: Resource) -> dict[str, Any]:
        if provider.type != POSTGRES_PROVIDER:
            raise ValueError(f"server {server} is no PostgreSQL server")
        if self.plan.prerequisites[provider.urn]:
            raise ValueError(f"server {server}: its provider waits for resources (a container server); only external")
        block: dict[str, Any] = {"alias": server}
        for key, value in provider.inputs.items():
            setting = snake_case(key)
            if setting == "password":
                assert isinstance(value, Secret)
                block[setting] = self.variable(f"{server}_admin_password", str(value.value))
            elif setting in PROVIDER_SETTINGS:
                block[setting] = _typed(PROVIDER_SETTINGS[setting], value)
            else:
                raise ValueError(f"server {server}: provider setting {key} is not mapped")
        if self.pool_size is not None:
            block["max_connections"] = self.pool_size
        return block

    def body(self, resource: Resource) -> dict[str, Any]:
        if resource.import_id is not None or resource.retain_on_delete or resource.ignore_changes:
            raise ValueError(f"{resource.urn}: import, retainOnDelete and ignoreChanges are not mapped")
        if resource.type == DYNAMIC_RESOURCE:
            body = self.sql_script(resource)
        else:
            renamed = RENAMED.get(resource.type, {})
            body = {}
            for key, value in resource.inputs.items():
                argument = renamed.get(key) or snake_case(key)
                body[argument] = self.secret(resource, key, value) if isinstance(value, Secret) else _argument(value)
            server = self.plan.server_of(resource)
            assert server is not None
            if resource.provider != self.plan.provider_of_server(server).urn:
                raise ValueError(f"{resource.urn}: not on its server's own provider (one provider per server here)")
            body["provider"] = f"postgresql.{server}"
        waits_for = sorted(self.addresses[urn] for urn in self.dependencies(resource))
        if waits_for:
            body["depends_on"] = waits_for
        if resource.protect:
            body["lifecycle"] = {"prevent_destroy": True}
        return body

    def dependencies(self, resource: Resource) -> set[str]:
        """The mapped resources `resource` waits for, through generated secrets; its provider left to `provider`."""
        server = self.plan.server_of(resource)
        provider = self.plan.provider_of_server(server) if server else None
        found: set[str] = set()
        pending = list(self.waits_for(resource))
        while pending:
            urn = pending.pop()
            dependency = self.plan.by_urn()[urn]
            if urn in self.addresses:
                found.add(urn)
            elif dependency.type in GENERATED:
                pending.extend(self.plan.prerequisites[urn])
            elif dependency is not provider:
                raise ValueError(f"{resource.urn} waits for {urn}, which this configuration does not hold")
        return found

    def waits_for(self, resource: Resource) -> set[str]:
        """What the engine makes `resource` wait for; without the grant chain, a grant no longer waits for the
        grant before it (only for what its inputs name)."""
        urns = self.plan.prerequisites[resource.urn]
        if self.grant_chain or resource.type not in GRANT_TYPES:
            return urns
        named = {urn for urns in resource.property_dependencies.values() for urn in urns}
        return {urn for urn in urns if urn in named or self.plan.by_urn()[urn].type not in GRANT_TYPES}

    def sql_script(self, resource: Resource) -> dict[str, Any]:
        inputs = resource.inputs
        password = inputs["password"]
        assert isinstance(password, Secret)
        environment = {
            "PGHOST": literal(inputs["host"]),
            "PGPORT": str(literal(inputs["port"])),
            "PGUSER": literal(inputs["user"]),
            "PGDATABASE": literal(inputs["database"]),
            "PGSSLMODE": literal(inputs["sslmode"]),
            "PGCONNECT_TIMEOUT": "30",
            "PGPASSWORD": self.secret(resource, "password", password),
        }
        if inputs.get("sslrootcert"):
            environment["PGSSLROOTCERT"] = literal(inputs["sslrootcert"])
        command = [self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-c"]
        return {
            "triggers_replace": {key: environment[f"PG{key.upper()}"] for key in ("host", "port", "database")}
            | {"sql": literal(inputs["sql"])},
            "provisioner": [
                {"local-exec": {"interpreter": command, "command": literal(inputs["sql"]), "environment": environment}}
            ],
        }


def _argument(value: Any) -> Any:
    """An input as the provider's argument: lists of objects are nested blocks (snake_case keys); an object
    elsewhere is a map, whose keys are data."""
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return [{snake_case(key): _argument(item) for key, item in block.items()} for block in value]
    return literal(value)


def _typed(kind: type, value: Any) -> Any:
    if kind is bool:
        return value if isinstance(value, bool) else str(value) == "true"
    if kind is int:
        return int(float(value))
    return literal(str(value))


def terraform_config(
    capture: Capture,
    servers: Sequence[str] = SERVERS,
    pool_size: int | None = None,
    psql: str = "psql",
    grant_chain: bool = True,
) -> TerraformConfig:
    """The configuration for the PostgreSQL resources of `servers` in `capture` (see the module docstring).

    `pool_size`: each provider's `max_connections` (default: the stack's); `psql`: the client the SQL scripts run;
    `grant_chain=False` drops the order between grants (components/ordering.py) to show what it prevents.
    """
    if pool_size is not None and pool_size < 1:
        raise ValueError(f"pool_size: at least 1, not {pool_size}")
    return _Generator(capture, servers, pool_size, psql, grant_chain).generate()


# Running it ---------------------------------------------------------------------------------------------------


def mirror_dir() -> Path:
    return toolchain_dir() / "terraform-mirror"


def provider_binary() -> Path:
    binary = f"terraform-provider-postgresql_v{PROVIDER_VERSION}"
    return mirror_dir() / PROVIDER_ADDRESS / PROVIDER_VERSION / PLATFORM / binary


def missing_terraform() -> str | None:
    """Why Terraform cannot run here and how to fix it (one line), or None."""
    if shutil.which("terraform") is None:
        return "terraform is not on PATH (Terraform 1.11, from releases.hashicorp.com)"
    if not provider_binary().is_file():
        return (
            f"{PROVIDER_SOURCE} {PROVIDER_VERSION} is not in the Terraform mirror: on a machine that reaches "
            f"registry.terraform.io, `terraform providers mirror -platform={PLATFORM} DIR` for a configuration "
            f"requiring it, then unzip the provider into {provider_binary().parent}"
        )
    return None


CLI_CONFIG = """provider_installation {{
  filesystem_mirror {{
    path    = {mirror}
    include = [{provider}]
  }}
}}
"""
"""Terraform's CLI configuration: the provider from the mirror only (no `direct`: nothing is downloaded)."""


class TerraformError(RuntimeError):
    """A Terraform command failed."""


@dataclass(frozen=True)
class TerraformDir:
    """A working directory with a configuration, initialized from the mirror."""

    directory: Path
    env: Mapping[str, str] = field(repr=False)

    def run(self, *args: str) -> None:
        """`terraform <args>`; a failure raises with the end of its output (Terraform redacts sensitive values)."""
        command = ["terraform", *args, "-no-color"]
        done = subprocess.run(command, cwd=self.directory, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
            raise TerraformError(f"terraform {args[0]} failed ({done.returncode}):\n{tail}")

    def apply(self, parallelism: int | None = None) -> None:
        extra = [f"-parallelism={parallelism}"] if parallelism else []
        self.run("apply", "-input=false", "-auto-approve", *extra)

    def destroy(self) -> None:
        self.run("destroy", "-input=false", "-auto-approve", "-refresh=false")

    def state_addresses(self) -> list[str]:
        done = subprocess.run(["terraform", "state", "list"], cwd=self.directory, env=self.env,
                              capture_output=True, text=True, check=True)  # fmt: skip
        return done.stdout.split()


@contextmanager
def terraform_dir(config: TerraformConfig) -> Iterator[TerraformDir]:
    """`config` in a temporary directory, `terraform init` done from the mirror; the directory goes afterwards."""
    missing = missing_terraform()
    if missing:
        raise TerraformError(missing)
    with tempfile.TemporaryDirectory(prefix="engarde-terraform-") as name:
        directory = Path(name)
        cli_config = directory / "cli.tfrc"
        cli_config.write_text(
            CLI_CONFIG.format(mirror=json.dumps(str(mirror_dir())), provider=json.dumps(PROVIDER_ADDRESS))
        )
        # No trace log: it would hold the provider's settings, the admin password with them.
        env = {
            **{key: value for key, value in os.environ.items() if not key.startswith("TF_LOG")},
            "TF_CLI_CONFIG_FILE": str(cli_config),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }
        config.write(directory)
        workdir = TerraformDir(directory, env)
        workdir.run("init", "-input=false")
        yield workdir
