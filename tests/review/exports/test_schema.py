"""`python -m review schema`: the JSON Schema of a stack file, checked by a JSON Schema validator against the
stack files and configs the program accepts and refuses, and kept equal to the committed
docs/stack-config.schema.json."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from review import __main__ as cli
from review.exports.schema import SCHEMA_FILE, stack_file_schema
from tests.conftest import PROJECT_DIR
from tests.topology.test_config import BAD_CONFIGS
from topology import ConfigError

VALIDATOR = jsonschema.Draft202012Validator(stack_file_schema())
SECRET = {"secure": "v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
EXTERNAL_MAIN = {"mode": "external", "host": "db.example.internal", "maxConnections": 200, "version": 15}

ACCEPTED: list[dict[str, Any]] = [
    # Each key of a stack file's config, as a stack file holds it (without the `engarde:` namespace here).
    {"servers": {"main": EXTERNAL_MAIN, "flowdb": {"hostPort": 5400}}, "mainAdminPassword": SECRET,
     "images": {"backend": "x/backend@sha256:" + "0123456789abcdef" * 4, "redis": "redis:7.4.1"}},
    {"servers": {"main": {"replicas": [{}, {"hostPort": 5700}], "maxSlotWalKeepSize": "5GB", "pooler": "pgbouncer",
                          "poolerHost": "main-pool", "poolerPort": 6500, "poolerQueryWaitTimeout": 10,
                          "reservedConnections": 5, "maxConnections": 300, "allowMajorUpgrade": True}}},
    {"servers": {"main": {**EXTERNAL_MAIN, "version": 16, "superuser": False, "adminUser": "admin", "port": 5433,
                          "database": "railway", "sslmode": "verify-full", "sslrootcert": "/etc/engarde/ca.pem",
                          "adoptRoles": ["engarde_app"], "adminGrantsPgMonitor": True, "adminGrantsPgReadAllData": True,
                          "replicas": [{"host": "replica.example.internal"}, {"host": "db.example.internal",
                                                                              "port": 5434}]},
                 "scheduler": {"mode": "external", "host": "mysql.example.internal", "port": 3307,
                               "adoptDatabase": True, "characterSet": "utf8mb4", "collation": "utf8mb4_bin",
                               "sslmode": "disable", "allowUnencrypted": True}},
     "mainAdminPassword": SECRET, "schedulerAdminPassword": SECRET},
    {"servers": {"main": {"image": "registry.example/pg-custom:2024.1", "imageVersion": 17},
                 "flowdb": {"image": "postgres:16.4", "database": "lf"},
                 "scheduler": {"image": "engarde.local/mariadb:10.5.29", "imageVersion": "mariadb-10.5"}}},
    {"services": {"billing": {"image": "x/billing:1.0", "schema": "billing", "port": 8080,
                              "reads": ["madansara", "sankore"], "connectionLimit": 20, "poolMode": "transaction"},
                  "pay-ments": {"image": "x/payments:2"}},
     "connectionLimits": {"backend": 40, "reporting": 8}, "backups": {"schedule": "90m", "keep": 30}},
    {"langflowPlacement": "shared", "protect": True, "schedulerBaseUrl": "https://book.example.com",
     "langflowSuperuser": "root", "servers": {"main": {"mode": "container", "port": 6000, "sslmode": "disable"}}},
    {"crossDatabaseReads": True, "allowPlaintextSecrets": True, "mainAdminPassword": "in-clear",
     "servers": {"main": {"characterSet": "utf8mb4", "version": 14}, "scheduler": {"version": 15}}},
    {"runContainers": False, "serviceHosts": {"redis": "redis.railway.internal", "backend": "10.0.0.7"},
     "servers": {"main": EXTERNAL_MAIN, "flowdb": {**EXTERNAL_MAIN, "host": "flow.example.internal"},
                 "scheduler": {"mode": "external", "host": "mysql.example.internal"}},
     "mainAdminPassword": SECRET, "flowdbAdminPassword": SECRET, "schedulerAdminPassword": SECRET},
]  # fmt: skip

REFUSED: list[tuple[dict[str, Any], str]] = [
    # (a stack file's config, the key the program names): refused by the schema as well.
    ({"protcet": True}, "protcet"),
    ({"protect": "yes"}, "protect"),
    ({"langflowPlacement": "both"}, "langflowPlacement"),
    ({"servers": {"main": {"mode": "vm"}}}, "servers.main.mode"),
    ({"servers": {"main": {"mode": "external"}}, "mainAdminPassword": SECRET}, "servers.main.host"),
    ({"servers": {"main": {"hostPort": 70000}}}, "servers.main.hostPort"),
    ({"servers": {"main": {"imageVersion": 12}}}, "servers.main.imageVersion"),
    ({"servers": {"main": {"replicas": [{}] * 5}}}, "servers.main.replicas"),
    ({"servers": {"main": {"replicas": [{"port": 1}]}}}, "servers.main.replicas[0].port"),
    ({"servers": {"scheduler": {"pooler": "pgbouncer"}}}, "servers.scheduler.pooler"),
    ({"servers": {"main": {"sslmode": "yes"}}}, "servers.main.sslmode"),
    ({"images": {"backend": "x/backend:latest"}}, "images.backend"),
    ({"services": {"Billing": {"image": "x/b:1"}}}, "services.Billing"),
    ({"services": {"billing": {"schema": "public", "image": "x/b:1"}}}, "services.billing.schema"),
    ({"services": {"billing": {"image": "x/b:1", "reads": ["onside", "onside"]}}}, "services.billing.reads"),
    ({"backups": {"schedule": "daily"}}, "backups.schedule"),
    ({"langflowSuperuser": "ad\\min"}, "langflowSuperuser"),
    ({"schedulerBaseUrl": "ftp://book.example.com"}, "schedulerBaseUrl"),
    ({"mainAdminPassword": ""}, "mainAdminPassword"),
]  # fmt: skip


def stack_file(config: dict[str, Any]) -> dict[str, Any]:
    return {"config": {f"engarde:{key}": value for key, value in config.items()}}


def schema_errors(document: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in VALIDATOR.iter_errors(document)]


def program_refusal(tmp_path: Path, config: dict[str, Any]) -> ConfigError | None:
    """What the program says of `config` in a stack file, read as `review plan` and `pulumi preview` read it."""
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.schema.yaml").write_text(yaml.safe_dump(stack_file(config)))
    try:
        cli.validated_config("schema", [], tmp_path)
    except ConfigError as error:
        return error
    return None


def test_the_committed_schema_is_what_review_schema_writes() -> None:
    out = io.StringIO()
    assert cli.main(["schema"], out=out) == 0
    assert json.loads(out.getvalue()) == stack_file_schema()
    assert SCHEMA_FILE.read_text() == out.getvalue(), (
        "docs/stack-config.schema.json differs from the config models: run make schema"
    )


def test_it_is_a_draft_2020_12_schema_of_every_key_with_its_description_and_default() -> None:
    schema = stack_file_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    objects = [schema["properties"]["config"], *schema["$defs"].values()]
    keys = [(key, spec, obj) for obj in objects for key, spec in obj.get("properties", {}).items()]
    assert len(keys) > 100
    for key, spec, obj in keys:
        # Where a key's description would repeat its object's, pydantic leaves it to the object's definition.
        definition = schema["$defs"][spec["$ref"].rsplit("/", 1)[1]] if "$ref" in spec else {}
        assert spec.get("description") or definition.get("description"), key
        if key != "mode":  # the tag of a server's mode: its default is the container model's
            assert "default" in spec or key in obj.get("required", []), key


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stack_files_validate(stack: str) -> None:
    assert schema_errors(yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())) == []


@pytest.mark.parametrize("config", ACCEPTED)
def test_a_config_the_program_accepts_validates(config: dict[str, Any], tmp_path: Path) -> None:
    assert program_refusal(tmp_path, config) is None
    assert schema_errors(stack_file(config)) == []


@pytest.mark.parametrize(("config", "key"), REFUSED)
def test_a_config_the_schema_refuses_the_program_refuses_naming_the_key(
    config: dict[str, Any], key: str, tmp_path: Path
) -> None:
    assert schema_errors(stack_file(config)) != []
    refusal = program_refusal(tmp_path, config)
    assert refusal is not None and refusal.key == key


def test_every_unknown_key_the_program_refuses_the_schema_refuses() -> None:
    unknown = [config for config, _key, allowed in BAD_CONFIGS if allowed == "unknown key"]
    assert len(unknown) >= 8
    for config in unknown:
        assert schema_errors(stack_file(config)) != [], config
