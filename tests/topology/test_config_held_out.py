"""Configs a new user might write that were accepted although broken or unsafe: each is refused with one
line naming the key, the same in `review plan` (the stack file read offline) and in the program
(`pulumi preview`: the config as the engine hands it, here under mocks)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from review import __main__ as cli
from review.capture.program import run_program
from tests.conftest import ADMIN_PASSWORDS, stack_file_config
from topology import ConfigError, load_topology
from topology.config import ConfigOrigin

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROD = {**stack_file_config("prod"), **ADMIN_PASSWORDS}
ALL_SECRET = ConfigOrigin(secret_keys=frozenset(ADMIN_PASSWORDS))


def prod_with(**servers: dict[str, Any]) -> dict[str, Any]:
    """The prod stack's config with some servers' settings overridden."""
    merged = {name: {**body, **servers.get(name, {})} for name, body in PROD["servers"].items()}
    return {**PROD, "servers": merged}


def refusal(config: dict[str, Any], origin: ConfigOrigin | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as error:
        load_topology(config, "prod" if "mainAdminPassword" in config else "dev", origin)
    assert "\n" not in str(error.value)
    return error.value


MAIN = PROD["servers"]["main"]
HELD_OUT: list[tuple[dict[str, Any], str, str]] = [
    # (config, key named, what the line says)
    (prod_with(flowdb={"host": MAIN["host"], "port": MAIN["port"]}), "servers.flowdb.host",
     "postgres.railway.internal:5432 is also servers.main's host and port: each server needs its own"),
    (prod_with(flowdb={"host": MAIN["host"].upper()}), "servers.flowdb.host", "is also servers.main's host"),
    (prod_with(flowdb={"replicas": [{"host": MAIN["host"], "port": 5432}]}), "servers.flowdb.replicas[0].host",
     "is also servers.main's host and port"),
    ({"servers": {"flowdb": {"mode": "external", "host": "localhost", "port": 5432, "sslmode": "disable",
                             "version": 15}}, "flowdbAdminPassword": "x"},
     "servers.flowdb.host", "127.0.0.1:5432 is servers.main's container (its hostPort)"),
    ({"schedulerBaseUrl": "https://book.example.com/?q='x'"}, "schedulerBaseUrl", "an env file cannot carry them"),
    ({"schedulerBaseUrl": "https://book.example.com/$HOME"}, "schedulerBaseUrl", "'$' at position 26"),
    ({"langflowSuperuser": "admin\nLANGFLOW_AUTO_LOGIN=True"}, "langflowSuperuser", "'\\n' at position 6"),
    ({"langflowSuperuser": "ad\\min"}, "langflowSuperuser", "backslashes"),
    ({**PROD, "mainAdminPassword": ["a", "b"]}, "mainAdminPassword", "must be a string (got a list)"),
    ({**PROD, "mainAdminPassword": '["a", "b"]'}, "mainAdminPassword", "must be a string (got a list)"),
    ({**PROD, "mainAdminPassword": {"value": "a"}}, "mainAdminPassword", "must be a string (got an object)"),
    ({**PROD, "mainAdminPassword": ""}, "mainAdminPassword", "must not be empty"),
    ({"servers": {"main": {"pooler": "pgbouncer", "poolerHost": "redis"}}}, "servers.main.poolerHost",
     "'redis' is the network alias of the redis container"),
    ({"servers": {"main": {"pooler": "pgbouncer", "poolerHost": "backend"}}}, "servers.main.poolerHost",
     "network alias of the backend container"),
    ({"servers": {"main": {"pooler": "pgbouncer", "poolerHost": "main-replica-1", "replicas": [{}]}}},
     "servers.main.poolerHost", "network alias"),
]  # fmt: skip


@pytest.mark.parametrize(("config", "key", "says"), HELD_OUT)
def test_a_held_out_config_is_refused_naming_its_key(config: dict[str, Any], key: str, says: str) -> None:
    error = refusal(config, ALL_SECRET)
    assert error.key == key
    assert str(error).startswith(f"engarde:{key}: ")
    assert says in str(error)


def test_the_refusals_never_show_a_password() -> None:
    error = refusal({**PROD, "mainAdminPassword": '["hunter2-secret"]'}, ALL_SECRET)
    assert "hunter2" not in str(error)


@pytest.mark.parametrize("namespace", ["engrade", "engard", "engardes", "engarbe", "egarde", "nengarde"])
def test_a_namespace_one_edit_from_engarde_is_refused_suggesting_it(namespace: str) -> None:
    origin = ConfigOrigin(secret_keys=frozenset(ADMIN_PASSWORDS), other_keys=frozenset({f"{namespace}:protect"}))
    error = refusal(PROD, origin)
    assert error.key == f"{namespace}:protect"
    assert str(error) == (
        f"{namespace}:protect: namespace {namespace!r} is not 'engarde', so the program would ignore this key: "
        "did you mean engarde:protect?"
    )


@pytest.mark.parametrize("key", ["docker:host", "postgresql:host", "random:seed", "garde:x", "engarde-x:y"])
def test_other_namespaces_pass(key: str) -> None:
    load_topology(PROD, "prod", ConfigOrigin(secret_keys=frozenset(ADMIN_PASSWORDS), other_keys=frozenset({key})))


def test_a_clear_text_admin_password_is_refused_unless_allowed() -> None:
    clear_main = ConfigOrigin(secret_keys=frozenset(ADMIN_PASSWORDS) - {"mainAdminPassword"})
    error = refusal(PROD, clear_main)
    assert error.key == "mainAdminPassword"
    assert "clear text" in str(error) and "pulumi config set --secret engarde:mainAdminPassword" in str(error)
    assert "allowPlaintextSecrets: true" in str(error)
    assert ADMIN_PASSWORDS["mainAdminPassword"] not in str(error)
    load_topology({**PROD, "allowPlaintextSecrets": "true"}, "prod", clear_main)
    load_topology(PROD, "prod", ALL_SECRET)
    # Set but unused (main is a container in dev): still a password in clear text.
    assert refusal({"mainAdminPassword": "x"}, ConfigOrigin()).key == "mainAdminPassword"


def test_different_endpoints_pass() -> None:
    load_topology(prod_with(flowdb={"port": 5433, "host": MAIN["host"]}), "prod", ALL_SECRET)
    load_topology(PROD, "prod", ALL_SECRET)


# The same outcome through the program (as `pulumi preview` runs it) and through `review plan` ----------------


def test_the_program_refuses_a_clear_text_password_before_registering_anything() -> None:
    with pytest.raises(pulumi.RunError, match=r"^engarde:mainAdminPassword: is in clear text"):
        run_program(PROD, "prod", secret_keys=("flowdbAdminPassword", "schedulerAdminPassword"))


def test_the_program_sees_every_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    # The engine hands the program every namespace's keys (PULUMI_CONFIG); the mocks only set engarde's.
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"engrade:protect": "true"}))
    with pytest.raises(pulumi.RunError, match=r"^engrade:protect: .* did you mean engarde:protect\?$"):
        run_program({}, "dev")


def _plan(tmp_path: Path, config: dict[str, Any]) -> tuple[int, str]:
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.held.yaml").write_text(yaml.safe_dump({"config": config}))
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["plan", "--stack", "held", "--format", "json"], out=out, err=err, project_dir=tmp_path)
    return code, err.getvalue()


def test_review_plan_refuses_a_mistyped_namespace(tmp_path: Path) -> None:
    code, err = _plan(tmp_path, {"engrade:protect": True})
    assert code != 0
    assert "engrade:protect: namespace 'engrade' is not 'engarde'" in err


def test_review_plan_refuses_a_clear_text_password_in_the_stack_file(tmp_path: Path) -> None:
    stack = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())["config"]
    code, err = _plan(tmp_path, {**stack, "engarde:mainAdminPassword": "in-clear"})
    assert code != 0
    assert "engarde:mainAdminPassword: is in clear text" in err
    assert "in-clear" not in err
    code, err = _plan(tmp_path, {**stack, "engarde:mainAdminPassword": {"secure": "v1:abc"}})
    assert code == 0, err


def test_review_plan_reads_yes_as_pulumi_does(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.held.yaml").write_text("config:\n  engarde:protect: yes\n")
    err = io.StringIO()
    code = cli.main(["plan", "--stack", "held"], out=io.StringIO(), err=err, project_dir=tmp_path)
    assert code != 0
    assert "engarde:protect: must be true or false" in err.getvalue()
