"""`servers.<name>.sslrootcert`: a CA bundle for verified TLS, refused where it cannot work."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.conftest import capture
from tests.graph import CONTAINER, inputs
from topology import ConfigError, load_topology
from topology.dsn import postgres_url

CA = "/etc/engarde/ca.pem"


def config(main: dict[str, Any], scheduler: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "langflowPlacement": "shared",
        "servers": {
            "main": {"mode": "external", "host": "db.example.internal", "maxConnections": 200, "version": 15, **main},
            **({"scheduler": {"mode": "external", "host": "mysql.example.internal", **scheduler}} if scheduler else {}),
        },
        "mainAdminPassword": "x",
        "schedulerAdminPassword": "y",
    }


@pytest.mark.parametrize(
    ("main", "scheduler", "key", "fragment"),
    [
        ({"sslmode": "verify-full"}, None, "servers.main.sslrootcert", "required when sslmode is verify-full"),
        ({"sslmode": "verify-ca"}, None, "servers.main.sslrootcert", "absolute path of the CA bundle"),
        ({"sslmode": "require", "sslrootcert": CA}, None, "servers.main.sslrootcert", "only used with sslmode verify"),
        ({"sslmode": "verify-full", "sslrootcert": "ca.pem"}, None, "servers.main.sslrootcert", "absolute path"),
        ({}, {"sslmode": "verify-full", "sslrootcert": CA}, "servers.scheduler.sslrootcert", "system trust store"),
    ],
)
def test_unusable_ca_settings_are_refused_naming_the_key(
    main: dict[str, Any], scheduler: dict[str, Any] | None, key: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_topology(config(main, scheduler), "prod")
    assert error.value.key == key and fragment in str(error.value)


@pytest.mark.parametrize("sslmode", ["verify-ca", "verify-full"])
def test_a_verifying_sslmode_with_its_ca_reaches_the_server_spec(sslmode: str) -> None:
    topology = load_topology(config({"sslmode": sslmode, "sslrootcert": CA}, {"sslmode": sslmode}), "prod")
    assert (topology.servers["main"].sslmode, topology.servers["main"].sslrootcert) == (sslmode, CA)
    assert topology.servers["scheduler"].sslrootcert is None


def test_the_dsn_carries_the_ca_path_encoded() -> None:
    url = postgres_url(user="u", password="p", host="db", port=5432, database="d", sslmode="verify-full",
                       sslrootcert="/etc/odd dir/ca&b.pem")  # fmt: skip
    parsed = conninfo_to_dict(url)
    assert (parsed["sslmode"], parsed["sslrootcert"]) == ("verify-full", "/etc/odd dir/ca&b.pem")


def test_a_container_gets_the_ca_its_dsns_name_mounted_read_only() -> None:
    main = {
        "mode": "external",
        "host": "db.example.internal",
        "version": 15,
        "sslmode": "verify-full",
        "sslrootcert": CA,
        "maxConnections": 200,
    }
    result = capture("dev", servers={"main": main}, mainAdminPassword="x")
    containers = {inputs(c)["name"]: inputs(c) for c in result.by_type(CONTAINER)}
    mount = [{"hostPath": CA, "containerPath": CA, "readOnly": True}]
    assert containers["engarde-dev-madan-sara"]["volumes"] == mount
    # Langflow logs into flowdb (a container without TLS) and into main: it needs main's CA too.
    assert containers["engarde-dev-langflow-server"]["volumes"] == mount
    assert "volumes" not in containers["engarde-dev-egm-scheduler"]
