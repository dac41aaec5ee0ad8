"""Stack config validation: every bad value is refused with the key named, before anything is built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from review.capture import program as capture
from review.capture.program import run_program, unwrap_secrets
from tests.conftest import ADMIN_PASSWORDS
from tests.conftest import capture as capture_stack
from topology import ConfigError, load_topology
from topology.config import (
    SCALAR_DEFAULTS,
    ignored_settings,
    parse_config,
    scheduler_tls_warnings,
    unencrypted_warnings,
)
from topology.model import Mode, Placement, Text

PROJECT_DIR = Path(__file__).resolve().parents[2]
EXTERNAL_MAIN = {"main": {"mode": "external", "host": "db.example.internal", "maxConnections": 200, "version": 15}}

BAD_CONFIGS: list[tuple[dict[str, Any], str, str]] = [
    # (config, key named in the error, a fragment of what is allowed)
    ({"servers": {"main": {"mode": "vm"}}}, "servers.main.mode", "container, external"),
    ({"services": {"billing": {"image": "x/billing:1", "schema": "Billing"}}}, "services.billing.schema", "[a-z_]"),
    ({"services": {"billing": {"image": "x/billing:1", "schema": "bill;drop"}}}, "services.billing.schema", "[a-z_]"),
    ({"services": {"billing": {"image": "x/billing:1", "schema": "public"}}}, "services.billing.schema", "reserved"),
    ({"services": {"billing": {"image": "x/billing:1", "schema": "pg_billing"}}}, "services.billing.schema", "pg_"),
    ({"services": {"billing": {"image": "x/billing:1", "schema": "information_schema"}}},
     "services.billing.schema", "reserved"),
    ({"services": {"billing": {"image": "x/billing:1", "schema": "b" * 60}}}, "services.billing.schema", "bytes"),
    ({"services": {"billing": {"image": "x/billing:1", "schema": "madansara"}}},
     "services.billing.schema", "already used"),
    ({"services": {"a": {"image": "x/a:1", "schema": "billing"}, "b": {"image": "x/b:1", "schema": "billing"}}},
     "services.b.schema", "already used"),
    ({"services": {"onside": {"image": "x/onside:1", "schema": "onside2"}}}, "services.onside", "already"),
    ({"services": {"billing": {"image": "x/billing:1", "reads": ["nowhere"]}}}, "services.billing.reads[0]",
     "allowed: "),
    ({"services": {"billing": {"image": "x/billing:1", "reads": ["audit"]}}}, "services.billing.reads[0]",
     "allowed: "),
    ({"services": {"billing": {"image": "x/billing:latest"}}}, "services.billing.image", "not 'latest'"),
    ({"services": {"billing": {"image": "x/billing"}}}, "services.billing.image", "pinned"),
    ({"services": {"billing": {"schema": "billing"}}}, "services.billing.image", "required"),
    ({"services": {"Billing": {"image": "x/billing:1"}}}, "services.Billing", "lower-case"),
    ({"services": {"1walker": {"image": "x/walker:1"}}}, "services.1walker", "start with a letter"),
    ({"servers": {"main": {"image": "mysql:8.0.39"}}}, "servers.main.image", "use a postgres image"),
    ({"servers": {"main": {"image": "postgres:12.20"}}}, "servers.main.image", "postgresql 15, 16, 17, 18"),
    ({"servers": {"scheduler": {"image": "postgres:15.8"}}}, "servers.scheduler.image", "use a mysql image"),
    ({"servers": {"scheduler": {"image": "mysql:5.7.44"}}}, "servers.scheduler.image", "mysql 8"),
    ({"servers": {"main": {"image": "registry.example/pg-custom:2024.1"}}}, "servers.main.imageVersion",
     "the postgresql major version it runs (15, 16, 17, 18)"),
    ({"servers": {"main": {"image": "registry.example/pg-custom:2024.1", "imageVersion": 12}}},
     "servers.main.imageVersion", "15, 16, 17, 18"),
    ({"services": {"billing": {"image": "x/billing:1", "reads": ["onside", "sankore", "onside"]}}},
     "services.billing.reads", "lists schema 'onside' twice"),
    ({"runContainers": False, "servers": {
        "main": {"mode": "external", "host": "db.example.internal", "version": 15},
        "flowdb": {"mode": "external", "host": "flow.example.internal", "version": 15, "maxConnections": 200},
        "scheduler": {"mode": "external", "host": "mysql.example.internal"}},
      "mainAdminPassword": "x", "flowdbAdminPassword": "y", "schedulerAdminPassword": "z"},
     "servers.main.maxConnections", "not declared: PostgreSQL's default is assumed for an external server; "
     "declare the server's max_connections as servers.main.maxConnections"),
    ({"services": {"billing": {"image": "x/billing:1", "color": "red"}}}, "services.billing.color", "unknown key"),
    ({"servers": {"main": {"mode": "container", "hostPort": 70000}}}, "servers.main.hostPort", "65535"),
    ({"servers": {"main": {"mode": "container", "hostPort": "high"}}}, "servers.main.hostPort", "integer"),
    ({"servers": {"main": {"mode": "container", "password": "x"}}}, "servers.main.password", "unknown key"),
    ({"servers": {"replica": {}}}, "servers.replica", "unknown key"),
    ({"servers": EXTERNAL_MAIN}, "mainAdminPassword", "pulumi config set --secret"),
    ({"servers": {"main": {"mode": "external"}}, "mainAdminPassword": "x"}, "servers.main.host", "required"),
    ({"servers": {**EXTERNAL_MAIN, "flowdb": {"mode": "external", "host": "f", "sslmode": "yes"}},
      "mainAdminPassword": "x", "flowdbAdminPassword": "y"}, "servers.flowdb.sslmode", "verify-full"),
    ({"runContainers": False}, "servers.main.mode", "external"),
    ({"servers": {"main": {**EXTERNAL_MAIN["main"], "sslmode": "prefer"}}, "mainAdminPassword": "x"},
     "servers.main.sslmode", "or say so explicitly with servers.main.allowUnencrypted: true"),
    ({"langflowPlacement": "both"}, "langflowPlacement", "dedicated, shared"),
    ({"protect": "maybe"}, "protect", "true or false"),
    ({"images": {"backend": "ghcr.io/engardehq/production-backend:latest"}}, "images.backend", "latest"),
    ({"images": {"frontend": "x/frontend:1"}}, "images.frontend", "unknown key"),
    ({"databaseUrl": "postgres://"}, "databaseUrl", "unknown key"),
    ({"schedulerBaseUrl": " "}, "schedulerBaseUrl", "empty"),
    ({"schedulerBaseUrl": "null"}, "schedulerBaseUrl", "http:// or https://"),
    ({"schedulerBaseUrl": "ftp://book.example.com"}, "schedulerBaseUrl", "http:// or https://"),
    # A setting the server's mode ignores is still checked.
    ({"servers": {"main": {"mode": "container", "port": 70000}}}, "servers.main.port", "65535"),
    ({"servers": {"main": {"mode": "container", "sslmode": "yes"}}}, "servers.main.sslmode", "verify-full"),
    ({"servers": {"main": {"mode": "container", "host": "a b"}}}, "servers.main.host", "host name"),
    ({"servers": {"main": {**EXTERNAL_MAIN["main"], "hostPort": 0}}, "mainAdminPassword": "x"},
     "servers.main.hostPort", "65535"),
    ({"servers": {"main": {**EXTERNAL_MAIN["main"], "image": "postgres"}}, "mainAdminPassword": "x"},
     "servers.main.image", "pinned"),
    ({"langflowPlacement": "shared", "servers": {"flowdb": {"port": 70000}}}, "servers.flowdb.port", "65535"),
    ({"langflowPlacement": "shared", "servers": {"flowdb": {"colour": 1}}}, "servers.flowdb.colour", "unknown key"),
    # Two container servers on one host port.
    ({"servers": {"flowdb": {"hostPort": 5432}}}, "servers.flowdb.hostPort",
     "5432 is also servers.main.hostPort (default)"),
    ({"servers": {"main": {"hostPort": 6000}, "scheduler": {"hostPort": 6000}}}, "servers.scheduler.hostPort",
     "6000 is also servers.main.hostPort:"),
    # Replicas: a list per PostgreSQL server, in the server's own mode.
    ({"servers": {"main": {"replicas": {"hostPort": 5600}}}}, "servers.main.replicas", "list"),
    ({"servers": {"main": {"replicas": [{}] * 5}}}, "servers.main.replicas", "at most 4 per server"),
    ({"servers": {"main": {"replicas": [{"host": "replica.internal"}]}}}, "servers.main.replicas[0].host",
     "a container server's replicas take hostPort only"),
    ({"servers": {"main": {"replicas": [{"hostPort": 70000}]}}}, "servers.main.replicas[0].hostPort", "65535"),
    ({"servers": {"main": {"replicas": [{"hostPort": 5433}]}}}, "servers.flowdb.hostPort",
     "5433 is also servers.main.replicas[0].hostPort:"),
    ({"servers": {"main": {"replicas": [{}, {"hostPort": 5532}]}}}, "servers.main.replicas[1].hostPort",
     "5532 is also servers.main.replicas[0].hostPort (default)"),
    ({"servers": {"main": {**EXTERNAL_MAIN["main"], "replicas": [{"port": 5432}]}}, "mainAdminPassword": "x"},
     "servers.main.replicas[0].host", "required when the server's mode is external"),
    ({"servers": {"main": {**EXTERNAL_MAIN["main"], "replicas": [{"host": "r", "hostPort": 1}]}},
      "mainAdminPassword": "x"}, "servers.main.replicas[0].hostPort", "declare host and port"),
    ({"servers": {"main": {**EXTERNAL_MAIN["main"], "replicas": [{"host": "db.example.internal"}]}},
      "mainAdminPassword": "x"}, "servers.main.replicas[0]", "listed twice (or is the primary)"),
    ({"servers": {"main": {"replicas": [{}], "maxSlotWalKeepSize": "1TB"}}}, "servers.main.maxSlotWalKeepSize",
     "MB or GB"),
    ({"servers": {"main": {**EXTERNAL_MAIN["main"], "maxSlotWalKeepSize": "10GB"}}, "mainAdminPassword": "x"},
     "servers.main.maxSlotWalKeepSize", "applies to container servers"),
    ({"servers": {"scheduler": {"replicas": [{}]}}}, "servers.scheduler.replicas", "unknown key"),
    ({"serviceHosts": {"redis": "redis.internal"}}, "serviceHosts", "runContainers is false"),
    ({"serviceHosts": {"frontend": "x"}}, "serviceHosts.frontend", "unknown key"),
    # Only a full digest pins an image.
    ({"images": {"backend": "x/backend@sha256:abc"}}, "images.backend", "64 hex digits"),
    ({"images": {"backend": "@sha256:" + "a" * 64}}, "images.backend", "64 hex digits"),
    ({"backups": {"schedule": "daily"}}, "backups.schedule", "30m, 6h or 1d"),
    ({"backups": {"schedule": "0h"}}, "backups.schedule", "30m, 6h or 1d"),
    ({"backups": {"schedule": "-1h"}}, "backups.schedule", "30m, 6h or 1d"),
    ({"backups": {"keep": 0}}, "backups.keep", "between 1 and 1000"),
    ({"backups": {"keep": "many"}}, "backups.keep", "integer"),
    ({"backups": {"retention": 3}}, "backups.retention", "unknown key"),
]  # fmt: skip


def test_two_servers_on_different_host_ports_and_external_ones_on_any_port_pass() -> None:
    topology = load_topology(
        {"servers": {**EXTERNAL_MAIN, "flowdb": {"hostPort": 5432}}, "mainAdminPassword": "x"}, "dev"
    )
    assert topology.servers["flowdb"].provider_port == 5432
    digest = "x/backend@sha256:" + "0123456789abcdef" * 4
    assert load_topology({"images": {"backend": digest}}, "dev").services[0].image == digest


@pytest.mark.parametrize(
    ("image", "shown"),
    [
        ("ghcr.io/engardehq/a-very-long-registry-path/for-images/production-backend:latest",
         "(got 'production-backend:latest')"),
        ("registry.example.com:5000/team/a-long-image-name-here", "e.g. 'a-long-image-name-here:1.2.3'"),
    ],
)  # fmt: skip
def test_errors_show_the_part_that_is_wrong(image: str, shown: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_topology({"images": {"backend": image}}, "dev")
    assert shown in str(error.value)


def test_long_bad_names_keep_their_end_and_close_their_quote() -> None:
    schema = "billing_" * 8 + "X"
    with pytest.raises(ConfigError) as error:
        load_topology({"services": {"billing": {"image": "x/b:1", "schema": schema}}}, "dev")
    message = str(error.value)
    assert "_billing_X' ('X' at position 65)" in message
    assert message.count("'") % 2 == 0


@pytest.mark.parametrize(("config", "key", "allowed"), BAD_CONFIGS)
def test_bad_config_names_the_key_and_what_is_allowed(config: dict[str, Any], key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_topology(config, "dev")
    assert error.value.key == key
    message = str(error.value)
    assert message.startswith(f"engarde:{key}: ")
    assert allowed in message
    assert "\n" not in message


def test_values_arrive_as_the_engine_passes_them() -> None:
    """Pulumi hands objects and booleans to the program as JSON strings."""
    topology = load_topology(
        {"servers": json.dumps({"main": {"mode": "container", "hostPort": 6543}}), "protect": "true"}, "dev"
    )
    assert topology.servers["main"].provider_port == 6543
    assert topology.protect is True


def test_secret_values_never_appear_in_errors() -> None:
    secret = "hunter2-very-secret"
    config = {"servers": {**EXTERNAL_MAIN, "flowdb": {"mode": "external"}}, "mainAdminPassword": secret}
    with pytest.raises(ConfigError) as error:
        load_topology(config, "prod")
    assert secret not in str(error.value)


def test_external_servers_adopt_their_database() -> None:
    topology = load_topology({"servers": EXTERNAL_MAIN, "mainAdminPassword": "x"}, "prod")
    main = topology.servers["main"]
    assert (main.mode, main.adopt_database, main.database, main.sslmode, main.superuser) == (
        Mode.EXTERNAL,
        True,
        "railway",
        "require",
        False,
    )
    assert topology.admin_password_keys == {"main": "mainAdminPassword"}
    assert topology.servers["flowdb"].adopt_database is False


def test_shared_placement_has_no_flowdb_server() -> None:
    topology = load_topology({"langflowPlacement": "shared"}, "dev")
    assert topology.placement is Placement.SHARED
    assert set(topology.servers) == {"main", "scheduler"}


def test_pulumi_yaml_declares_every_scalar_key_with_the_programs_default() -> None:
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    assert project["runtime"]["options"]["virtualenv"] == "venv"
    declared = {key.split(":", 1)[1]: spec for key, spec in project["config"].items()}
    assert {key: spec["default"] for key, spec in declared.items()} == SCALAR_DEFAULTS
    for key, spec in declared.items():
        assert spec["type"] in {"string", "boolean", "integer"}, key
        assert spec["description"], key


def test_program_refuses_bad_config_before_registering_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    monitors: list[capture.CapturingMonitor] = []

    class RecordingMonitor(capture.CapturingMonitor):
        def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
            super().__init__(mocks)
            monitors.append(self)

    monkeypatch.setattr(capture, "CapturingMonitor", RecordingMonitor)
    with pytest.raises(pulumi.RunError) as error:
        capture.run_program({"servers": {"main": {"mode": "vm"}}}, "dev")
    assert str(error.value) == "engarde:servers.main.mode: must be one of container, external (got 'vm')"
    assert len(monitors) == 1 and monitors[0].captured == []


def test_program_refuses_missing_prod_secret() -> None:
    with pytest.raises(pulumi.RunError, match=r"^engarde:mainAdminPassword: is required"):
        run_program({"servers": EXTERNAL_MAIN}, "prod")


def test_one_mode_change_switches_a_server_and_the_other_modes_settings_are_ignored() -> None:
    servers = {
        "main": {
            "mode": "external",
            "image": "postgres:15.8",
            "hostPort": 5432,
            "host": "db.internal",
            "maxConnections": 200,
            "version": 15,
        }
    }
    main = load_topology({"servers": servers, "mainAdminPassword": "x"}, "dev").servers["main"]
    assert (main.mode, main.provider_host, main.image) == (Mode.EXTERNAL, "db.internal", None)
    servers["main"]["mode"] = "container"
    main = load_topology({"servers": servers}, "dev").servers["main"]
    assert (main.mode, main.provider_host, main.image) == (Mode.CONTAINER, "127.0.0.1", "postgres:15.8")


def test_each_ignored_setting_gets_one_notice() -> None:
    config = {
        "servers": {"main": {"mode": "container", "port": 6000, "sslmode": "disable"}, "flowdb": {"hostPort": 5999}},
        "langflowPlacement": "shared",
    }
    assert ignored_settings(config, parse_config(config)) == [
        "notice: engarde:servers.main.port is ignored: servers.main.mode is container",
        "notice: engarde:servers.main.sslmode is ignored: servers.main.mode is container",
        "notice: engarde:servers.flowdb.hostPort is ignored: langflowPlacement is shared",
    ]
    assert ignored_settings({}, parse_config({})) == []


def test_service_hosts_rename_the_hosts_in_the_prod_env() -> None:
    hosts = {"backend": "backend.railway.internal", "langflow-server": "langflow.railway.internal",
             "redis": "redis.railway.internal"}  # fmt: skip
    services = unwrap_secrets(capture_stack("prod", serviceHosts=hosts, **ADMIN_PASSWORDS).outputs["services"])
    env = {name: body["env"] for name, body in services.items()}
    assert env["madan-sara"]["PRODUCTION_BACKEND_URL"] == "http://backend.railway.internal:8000"
    assert env["backend"]["LANGFLOW_API_URL"] == "http://langflow.railway.internal:7860"
    assert "@redis.railway.internal:6379/0" in env["backend"]["REDIS_URL"]
    assert "@redis.railway.internal:6379/0" in env["langflow-server"]["LANGFLOW_REDIS_URL"]
    default = unwrap_secrets(capture_stack("prod", **ADMIN_PASSWORDS).outputs["services"])
    assert default["madan-sara"]["env"]["PRODUCTION_BACKEND_URL"] == "http://backend:8000"


def test_backup_schedule_and_retention_reach_every_job() -> None:
    default = load_topology({}, "dev").backups
    assert {(j.server, j.interval_seconds, j.keep) for j in default} == {
        ("main", 86400, 7), ("flowdb", 86400, 7), ("scheduler", 86400, 7),
    }  # fmt: skip
    jobs = load_topology({"backups": json.dumps({"schedule": "90m", "keep": 30})}, "dev").backups
    assert {(j.interval_seconds, j.keep) for j in jobs} == {(5400, 30)}


@pytest.mark.parametrize(
    "server",
    [
        {"image": "postgres:17.2-bookworm"},
        {"image": "docker.io/library/postgres:16.4"},
        {"image": "registry.example/pg-custom:2024.1", "imageVersion": 17},
        {"image": "postgres@sha256:" + "a" * 64, "imageVersion": 15},
    ],
)
def test_a_postgres_image_of_a_supported_version_or_a_declared_one_runs(server: dict[str, Any]) -> None:
    topology = load_topology({"servers": {"main": server}}, "dev")
    assert topology.servers["main"].image == server["image"]


def test_plain_text_off_this_machine_runs_only_when_allowed_and_then_warns() -> None:
    main = {**EXTERNAL_MAIN["main"], "sslmode": "disable", "allowUnencrypted": True}
    config = {"servers": {"main": main}, "mainAdminPassword": "x"}
    assert load_topology(config, "dev").servers["main"].sslmode == "disable"
    assert unencrypted_warnings(parse_config(config)) == [
        "warning: engarde:servers.main.sslmode is disable: connections to db.example.internal may go unencrypted"
        " (servers.main.allowUnencrypted is true)"
    ]
    on_loopback = {"servers": {"main": {**EXTERNAL_MAIN["main"], "host": "127.0.0.1", "sslmode": "disable"}},
                   "mainAdminPassword": "x"}  # fmt: skip
    load_topology(on_loopback, "dev")
    assert unencrypted_warnings(parse_config(on_loopback)) == []


def test_a_setting_of_the_other_engine_is_ignored_for_that_reason() -> None:
    config = {"servers": {"main": {"characterSet": "utf8mb4"}, "scheduler": {"version": 15}}}
    load_topology(config, "dev")
    assert ignored_settings(config, parse_config(config)) == [
        "notice: engarde:servers.main.characterSet is ignored: it applies to mysql servers only,"
        " and main is a postgresql server",
        "notice: engarde:servers.scheduler.version is ignored: it applies to postgresql servers only,"
        " and scheduler is a mysql server",
    ]


EXTERNAL_SCHEDULER = {"mode": "external", "host": "mysql.example.internal", "port": 3307}


@pytest.mark.parametrize(("sslmode", "warned"), [("require", True), ("verify-full", True), ("disable", False)])
def test_a_scheduler_reached_with_tls_warns_that_easyappointments_connects_without(sslmode: str, warned: bool) -> None:
    scheduler = {**EXTERNAL_SCHEDULER, "sslmode": sslmode, "allowUnencrypted": True}
    config = {"servers": {"scheduler": scheduler}, "schedulerAdminPassword": "x"}
    load_topology(config, "dev")
    expected = (
        "warning: engarde:servers.scheduler.sslmode is "
        f"{sslmode}, but EasyAppointments 1.5.0 has no setting for TLS: egm-scheduler connects to "
        "mysql.example.internal unencrypted (scheduler_user does not require TLS)"
    )
    assert scheduler_tls_warnings(parse_config(config)) == ([expected] if warned else [])


@pytest.mark.parametrize(("port", "db_host"), [(3306, "mysql.example.internal"), (3307, "mysql.example.internal:3307")])
def test_easyappointments_is_handed_the_schedulers_port_in_its_host(port: int, db_host: str) -> None:
    """EasyAppointments' CodeIgniter config leaves the port unset (3306): another port rides in DB_HOST,
    which mysqlnd reads as `host:port`."""
    config = {"servers": {"scheduler": {**EXTERNAL_SCHEDULER, "port": port}}, "schedulerAdminPassword": "x"}
    scheduler = next(s for s in load_topology(config, "dev").services if s.name == "egm-scheduler")
    assert scheduler.env["DB_HOST"] == Text(db_host)


@pytest.mark.parametrize(
    "scheduler",
    [
        {"image": "mariadb:10.5.29"},
        {"image": "engarde.local/mariadb:10.5.29", "imageVersion": "mariadb-10.5"},
        {"image": "mysql:8.0.39"},
        {"image": "registry.example/mysql-custom:1", "imageVersion": 8},
    ],
)
def test_a_scheduler_may_run_mysql_8_or_mariadb_10_5_said_honestly(scheduler: dict[str, Any]) -> None:
    assert load_topology({"servers": {"scheduler": scheduler}}, "dev").servers["scheduler"].image == scheduler["image"]


@pytest.mark.parametrize(
    ("scheduler", "key"),
    [
        ({"image": "mariadb:10.11.9"}, "servers.scheduler.image"),
        ({"image": "engarde.local/mariadb:10.11.9", "imageVersion": "mariadb-10.11"}, "servers.scheduler.imageVersion"),
        ({"image": "engarde.local/mariadb:10.5.29", "imageVersion": "10.5"}, "servers.scheduler.imageVersion"),
        ({"image": "registry.example/db:1"}, "servers.scheduler.imageVersion"),
    ],
)
def test_mariadb_past_10_9_or_a_version_said_vaguely_is_refused(scheduler: dict[str, Any], key: str) -> None:
    """The mysql provider reads @@GLOBAL.innodb_version, which MariaDB 10.10+ lacks: 10.11 cannot work."""
    with pytest.raises(ConfigError) as refused:
        load_topology({"servers": {"scheduler": scheduler}}, "dev")
    assert refused.value.key == key
    assert "8, mariadb-10.5" in str(refused.value)
