"""The program under mocks with connection limits and PgBouncer: what dev runs and what prod exports."""

from __future__ import annotations

import base64
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from resource_types import POSTGRES_PROVIDER
from review.capture.program import Capture, Secret, unwrap_secrets
from tests.conftest import ADMIN_PASSWORDS, capture
from tests.graph import CONTAINER, ROLE, ancestors, env_of, inputs, server_of
from topology.budget import PROVIDER_MAX_CONNECTIONS
from topology.pgbouncer import AUTH_FILE, CONFIG_FILE
from topology.scram import scram_verifier

POOLED = {"servers": {"main": {"pooler": "pgbouncer"}, "flowdb": {}, "scheduler": {}}}


def _prod_main(**settings: Any) -> dict[str, Any]:
    main = {"mode": "external", "host": "postgres.railway.internal", "database": "railway", "superuser": False,
            "maxConnections": 200, "version": 15, **settings}  # fmt: skip
    flowdb = {"mode": "external", "host": "flowdb.railway.internal", "database": "railway", "version": 15}
    scheduler = {"mode": "external", "host": "mysql.railway.internal"}
    return {"servers": {"main": main, "flowdb": flowdb, "scheduler": scheduler}, **ADMIN_PASSWORDS}


def _verifies(verifier: str, password: str) -> bool:
    iterations, salt = verifier.split("$")[1].split(":")
    return scram_verifier(password, base64.b64decode(salt), int(iterations)) == verifier


def _role_inputs(result: Capture, server: str, name: str) -> dict[str, object]:
    return next(inputs(r) for r in result.by_type(ROLE) if inputs(r)["name"] == name and server_of(result, r) == server)


def test_login_roles_carry_their_connection_limit(dev: Capture) -> None:
    assert _role_inputs(dev, "main", "engarde_app")["connectionLimit"] == 30
    assert _role_inputs(dev, "main", "onside_user")["connectionLimit"] == 15
    assert _role_inputs(dev, "flowdb", "langflow_app")["connectionLimit"] == 15
    assert _role_inputs(dev, "main", "engarde_monitor")["connectionLimit"] == 3
    assert _role_inputs(dev, "main", "public_read")["connectionLimit"] == -1


def test_container_servers_start_with_their_max_connections_and_providers_have_a_bounded_pool(dev: Capture) -> None:
    limited = capture("dev", servers={"main": {"maxConnections": 150, "reservedConnections": 5}})
    main = next(c for c in limited.by_type(CONTAINER) if c.name == "main-container")
    assert inputs(main)["command"] == [
        "postgres", "-c", "max_connections=150", "-c", "superuser_reserved_connections=5",
    ]  # fmt: skip
    flowdb = next(c for c in dev.by_type(CONTAINER) if c.name == "flowdb-container")
    assert "max_connections=200" in inputs(flowdb)["command"]  # type: ignore[operator]
    scheduler = next(c for c in dev.by_type(CONTAINER) if c.name == "scheduler-container")
    assert not inputs(scheduler).get("command")
    providers = [r for r in dev.resources if r.type == POSTGRES_PROVIDER]
    assert providers and all(inputs(p)["maxConnections"] == str(PROVIDER_MAX_CONNECTIONS) for p in providers)


def test_dev_pooler_is_a_pinned_container_with_its_files_and_services_go_through_it() -> None:
    result = capture("dev", **POOLED)
    pooler = next(c for c in result.by_type(CONTAINER) if c.name == "main-pgbouncer")
    assert inputs(pooler)["image"] == "edoburu/pgbouncer:v1.24.1-p1"
    assert isinstance(pooler.inputs["uploads"], Secret)  # the auth file makes the whole list secret
    uploads = {u["file"]: u["content"] for u in unwrap_secrets(pooler.inputs["uploads"])}
    assert uploads[AUTH_FILE].count("SCRAM-SHA-256$4096:") >= 8
    config = uploads[CONFIG_FILE]
    assert "listen_port = 6432" in config and "engarde = host=main port=5432 dbname=engarde" in config
    networks = unwrap_secrets(pooler.inputs["networksAdvanced"])
    assert [n["aliases"] for n in networks] == [["main-pgbouncer"]]
    parsed = conninfo_to_dict(env_of(result, "madan-sara")["DATABASE_URL"])
    assert (parsed["host"], parsed["port"], parsed["user"]) == ("main-pgbouncer", "6432", "madansara_user")
    assert "options" not in parsed
    exporter = conninfo_to_dict(env_of(result, "postgres-exporter")["DATA_SOURCE_NAME"])
    assert (exporter["host"], exporter["port"]) == ("main", "5432")
    flow = conninfo_to_dict(env_of(result, "backend")["LANGFLOW_DATABASE_URL"])
    assert flow["host"] == "flowdb"
    madan_sara = next(c for c in result.by_type(CONTAINER) if c.name == "madan-sara")
    assert pooler.urn in ancestors(result, madan_sara)


def test_auth_file_holds_each_pooled_roles_stored_verifier_and_no_password() -> None:
    result = capture("dev", **POOLED)
    services = unwrap_secrets(result.outputs["services"])
    auth_file = services["pgbouncer-main"]["files"][AUTH_FILE]
    lines = dict(line.replace('"', "").split(" ") for line in auth_file.splitlines())
    for role, verifier in lines.items():
        assert _role_inputs(result, "main", role)["password"] == verifier
    password = conninfo_to_dict(env_of(result, "madan-sara")["DATABASE_URL"])["password"]
    assert _verifies(lines["madansara_user"], str(password))
    assert password not in auth_file
    assert "engarde_monitor" not in lines and "madansara_user" in lines


def test_prod_exports_what_the_platform_needs_to_run_the_pooler() -> None:
    result = capture("prod", **_prod_main(pooler="pgbouncer", poolerHost="pgbouncer.railway.internal"))
    assert not result.by_type(CONTAINER)
    assert isinstance(result.outputs["services"], Secret)
    services = unwrap_secrets(result.outputs["services"])
    pooler = services["pgbouncer-main"]
    assert pooler["image"] == "edoburu/pgbouncer:v1.24.1-p1"
    config = pooler["files"][CONFIG_FILE]
    assert "railway = host=postgres.railway.internal port=5432 dbname=railway" in config
    assert "server_tls_sslmode = require" in config
    assert pooler["files"][AUTH_FILE].count("SCRAM-SHA-256$4096:") >= 8
    parsed = conninfo_to_dict(services["onside"]["env"]["DATABASE_URL"])
    assert (parsed["host"], parsed["port"]) == ("pgbouncer.railway.internal", "6432")
    assert "sslmode" not in parsed


def test_prod_without_pooler_keeps_direct_dsns(prod: Capture) -> None:
    services = unwrap_secrets(prod.outputs["services"])
    assert not [name for name in services if name.startswith("pgbouncer-")]
    parsed = conninfo_to_dict(services["onside"]["env"]["DATABASE_URL"])
    assert (parsed["host"], parsed["sslmode"]) == ("postgres.railway.internal", "require")


def test_connection_budget_output_per_postgres_server(dev: Capture, prod: Capture) -> None:
    dev_budget = dev.outputs["connectionBudget"]
    assert set(dev_budget) == {"main", "flowdb"}
    assert (dev_budget["main"]["used"], dev_budget["main"]["headroom"]) == (116, 84)
    prod_budget = prod.outputs["connectionBudget"]
    assert (prod_budget["main"]["maxConnections"], prod_budget["flowdb"]["maxConnections"]) == (200, 100)
    lines = {line["key"]: line["connections"] for line in prod_budget["main"]["lines"]}
    assert lines["connectionLimits.backend"] == 30
