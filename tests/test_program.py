"""The real program (__main__.py) under Pulumi's mocks: what each stack registers and exports."""

from __future__ import annotations

import string
from collections import Counter
from typing import Any
from urllib.parse import unquote

import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict

from resource_types import (
    MYSQL_DATABASE,
    MYSQL_GRANT,
    MYSQL_PROVIDER,
    MYSQL_USER,
    POSTGRES_PROVIDER,
    PROVIDER_PREFIX,
)
from review.capture.program import Capture, Secret, unwrap_secrets
from tests.conftest import capture
from tests.expected import DEDICATED_MATRIX, OWN, SHARED_MATRIX, A, B, R
from tests.graph import (
    CONTAINER,
    DATABASE,
    DEFAULT_PRIVILEGES,
    GRANT,
    GRANT_ROLE,
    PASSWORD,
    ROLE,
    SCHEMA,
    VOLUME,
    ancestors,
    env_of,
    inputs,
    server_of,
)
from topology.scram import is_verifier_of

BACKEND_ENV = {"DATABASE_URL", "LANGFLOW_DATABASE_URL", "LANGFLOW_API_URL", "REDIS_URL"}
MICROSERVICE_ENV = {"DATABASE_URL", "PRODUCTION_BACKEND_URL"}
LANGFLOW_ENV = {
    "LANGFLOW_DATABASE_URL",
    "ENGARDE_DATABASE_URL",
    "LANGFLOW_CACHE_TYPE",
    "LANGFLOW_REDIS_URL",
    "LANGFLOW_SUPERUSER",
    "LANGFLOW_SUPERUSER_PASSWORD",
    "LANGFLOW_AUTO_LOGIN",
    "LANGFLOW_SECRET_KEY",
    "LANGFLOW_CONFIG_DIR",
    "LANGFLOW_DATABASE_CONNECTION_RETRY",
}
SCHEDULER_ENV = {"DB_HOST", "DB_NAME", "DB_USERNAME", "DB_PASSWORD", "BASE_URL", "DEBUG_MODE"}


def matrix(result: Capture) -> dict[tuple[str, str, str], str]:
    rows = result.outputs["accessMatrix"]
    cells = {(row["server"], row["schema"], row["role"]): row["profile"] for row in rows}
    assert len(cells) == len(rows), "a (server, schema, role) cell appears twice"
    return cells


def role_passwords(result: Capture) -> dict[tuple[str, str], str]:
    """(server, login role) -> the password the role is given: a SCRAM verifier."""
    return {
        (server_of(result, role), inputs(role)["name"]): inputs(role)["password"]  # type: ignore[misc]
        for role in result.by_type(ROLE)
        if inputs(role).get("login")
    }


def members_of(result: Capture, server: str, group: str) -> set[str]:
    """Login roles whose own `roles` name `group` (the only place memberships are declared)."""
    return {
        str(inputs(r)["name"])
        for r in result.by_type(ROLE)
        if server_of(result, r) == server and group in (inputs(r).get("roles") or [])  # type: ignore[operator]
    }


def test_dev_access_matrix_is_the_documented_one_cell_by_cell(dev: Capture) -> None:
    assert matrix(dev) == DEDICATED_MATRIX


def test_shared_placement_access_matrix(shared: Capture) -> None:
    assert matrix(shared) == SHARED_MATRIX


def test_dev_registers_two_postgresql_providers_and_one_mysql(dev: Capture) -> None:
    providers = Counter(r.type for r in dev.resources if r.type.startswith(PROVIDER_PREFIX))
    assert providers == {POSTGRES_PROVIDER: 2, MYSQL_PROVIDER: 1}


def test_dev_runs_a_container_per_server_redis_and_every_service(dev: Capture) -> None:
    names = {inputs(c)["name"] for c in dev.by_type(CONTAINER)}
    expected_services = {
        "backend", "backend-copy", "madan-sara", "sankore-paidads", "onside", "capilytics-seo",
        "langflow-server", "egm-scheduler", "redis", "postgres-exporter", "postgres-exporter-flowdb",
        "backup-main", "backup-flowdb", "backup-scheduler",
    }  # fmt: skip
    assert names == {f"engarde-dev-{n}" for n in ["main", "flowdb", "scheduler", *expected_services]}
    server_images = {inputs(c)["name"]: inputs(c)["image"] for c in dev.by_type(CONTAINER)}
    assert server_images["engarde-dev-main"] == "postgres:15.8"
    assert server_images["engarde-dev-scheduler"] == "mysql:8.0.39"


def test_dev_schemas_and_their_owners(dev: Capture) -> None:
    schemas = {(server_of(dev, s), inputs(s)["name"], inputs(s)["owner"]) for s in dev.by_type(SCHEMA)}
    assert schemas == {
        ("main", "audit", "audit_owner"),
        ("main", "madansara", "madansara_user"),
        ("main", "sankore", "sankore_user"),
        ("main", "onside", "onside_user"),
        ("main", "capilytics", "capilytics_user"),
    }
    # An unprotected container server is disposable: `pulumi destroy` drops its schemas with their tables.
    assert all(inputs(s)["dropCascade"] is True for s in dev.by_type(SCHEMA))


@pytest.mark.parametrize("stack", ["prod"])
def test_schemas_and_data_owning_roles_of_external_servers_never_drop_data(
    stack: str, request: pytest.FixtureRequest
) -> None:
    result: Capture = request.getfixturevalue(stack)
    assert all(inputs(s)["dropCascade"] is False for s in result.by_type(SCHEMA))
    owners = {inputs(s)["owner"] for s in result.by_type(SCHEMA)}
    roles = {inputs(r)["name"]: inputs(r) for r in result.by_type(ROLE)}
    assert owners and all(roles[owner]["skipReassignOwned"] is True for owner in owners if owner in roles)


def test_dev_creates_the_databases_and_flowdb_is_owned_by_langflow(dev: Capture) -> None:
    databases = {server_of(dev, d): inputs(d) for d in dev.by_type(DATABASE)}
    assert databases["main"]["name"] == "engarde"
    assert databases["flowdb"]["name"] == "langflow"
    assert databases["flowdb"]["owner"] == "langflow_app"
    assert "owner" not in databases["main"]


def test_documented_login_roles_exist_with_no_elevated_attribute(dev: Capture, shared: Capture) -> None:
    for result in (dev, shared):
        for role in result.by_type(ROLE):
            attrs = inputs(role)
            for attribute in ("superuser", "createDatabase", "createRole", "replication", "bypassRowLevelSecurity"):
                assert attrs[attribute] is False, f"{attrs['name']}: {attribute}"
    logins = {(server_of(dev, r), inputs(r)["name"]) for r in dev.by_type(ROLE) if inputs(r)["login"]}
    assert logins == {
        *[("main", name) for name in [
            "engarde_app", "madansara_user", "sankore_user", "onside_user", "capilytics_user",
            "analytics_readonly", "audit_user", "langflow_reader", "engarde_monitor", "engarde_backup",
        ]],
        *[("flowdb", name) for name in [
            "langflow_app", "engarde_flow_reader", "audit_user", "engarde_monitor", "engarde_backup",
        ]],
    }  # fmt: skip


def test_monitor_roles_are_members_of_pg_monitor_only(dev: Capture) -> None:
    monitors = [r for r in dev.by_type(ROLE) if inputs(r)["name"] == "engarde_monitor"]
    assert len(monitors) == 2
    assert all(inputs(r)["roles"] == ["pg_monitor"] for r in monitors)
    assert not dev.by_type(GRANT_ROLE)


def test_same_role_name_on_two_servers_has_two_passwords(dev: Capture) -> None:
    passwords = role_passwords(dev)
    assert passwords[("main", "audit_user")] != passwords[("flowdb", "audit_user")]


@pytest.mark.parametrize("stack", ["dev", "prod", "shared"])
def test_exactly_one_grant_and_default_privileges_per_key(stack: str, request: pytest.FixtureRequest) -> None:
    result: Capture = request.getfixturevalue(stack)
    grant_keys = Counter(
        (server_of(result, g), *(inputs(g).get(k) for k in ("database", "role", "schema", "objectType")))
        for g in result.by_type(GRANT)
    )
    assert grant_keys and max(grant_keys.values()) == 1
    default_keys = Counter(
        (server_of(result, d), *(inputs(d).get(k) for k in ("database", "owner", "role", "schema", "objectType")))
        for d in result.by_type(DEFAULT_PRIVILEGES)
    )
    assert default_keys and max(default_keys.values()) == 1


@pytest.mark.parametrize("stack", ["dev", "prod", "shared"])
def test_grants_on_one_schema_run_one_after_another(stack: str, request: pytest.FixtureRequest) -> None:
    result: Capture = request.getfixturevalue(stack)
    by_schema: dict[tuple[str | None, object, object], list[str]] = {}
    for resource in result.by_type(GRANT) + result.by_type(DEFAULT_PRIVILEGES):
        key = (server_of(result, resource), inputs(resource)["database"], inputs(resource)["schema"])
        by_schema.setdefault(key, []).append(resource.urn)
    by_urn = result.by_urn()
    for key, urns in by_schema.items():
        for i, first in enumerate(urns):
            for second in urns[i + 1 :]:
                ordered = first in ancestors(result, by_urn[second]) or second in ancestors(result, by_urn[first])
                assert ordered, f"{key}: {by_urn[first].name} and {by_urn[second].name} may run concurrently"


def test_public_loses_every_privilege_on_public_schemas(dev: Capture) -> None:
    revokes = [g for g in dev.by_type(GRANT) if inputs(g)["role"] == "public"]
    assert {(server_of(dev, g), inputs(g)["schema"], inputs(g)["objectType"]) for g in revokes} == {
        ("main", "public", "schema"),
        ("flowdb", "public", "schema"),
    }
    assert all(inputs(g)["privileges"] == [] for g in revokes)


def test_group_roles_hold_grants_and_defaults_for_the_schema_owner(dev: Capture) -> None:
    reads = {inputs(g)["objectType"]: inputs(g) for g in dev.by_type(GRANT) if inputs(g)["role"] == "madansara_read"}
    assert reads["schema"]["privileges"] == ["USAGE"]
    assert reads["table"]["privileges"] == ["SELECT"] and reads["table"]["objects"] == []
    assert reads["sequence"]["privileges"] == ["SELECT"]
    defaults = [d for d in dev.by_type(DEFAULT_PRIVILEGES) if inputs(d)["role"] == "madansara_read"]
    assert {(inputs(d)["owner"], inputs(d)["objectType"]) for d in defaults} == {
        ("madansara_user", "table"),
        ("madansara_user", "sequence"),
    }
    appends = {inputs(g)["objectType"]: inputs(g) for g in dev.by_type(GRANT) if inputs(g)["role"] == "audit_append"}
    assert appends["table"]["privileges"] == ["INSERT"]
    assert appends["sequence"]["privileges"] == ["USAGE"]
    assert members_of(dev, "main", "madansara_read") == {"analytics_readonly", "audit_user"}


def test_every_service_gets_the_env_contract(dev: Capture, shared: Capture) -> None:
    for result in (dev, shared):
        assert set(env_of(result, "backend")) == BACKEND_ENV
        assert set(env_of(result, "backend-copy")) == BACKEND_ENV
        for service in ["madan-sara", "sankore-paidads", "onside", "capilytics-seo"]:
            assert set(env_of(result, service)) == MICROSERVICE_ENV
        assert set(env_of(result, "langflow-server")) >= LANGFLOW_ENV
        assert set(env_of(result, "egm-scheduler")) == SCHEDULER_ENV
    langflow = env_of(dev, "langflow-server")
    assert langflow["LANGFLOW_AUTO_LOGIN"] == "False"
    assert langflow["LANGFLOW_CACHE_TYPE"] == "redis"
    assert langflow["LANGFLOW_DATABASE_CONNECTION_RETRY"] == "true"
    assert env_of(dev, "egm-scheduler")["DEBUG_MODE"] in {"TRUE", "FALSE"}


def test_services_output_is_secret_and_servers_and_matrix_are_plain(dev: Capture) -> None:
    assert isinstance(dev.outputs["services"], Secret)
    assert not isinstance(dev.outputs["servers"], Secret)
    assert not isinstance(dev.outputs["accessMatrix"], Secret)
    assert dev.outputs["servers"]["main"] == {
        "engine": "postgresql", "mode": "container", "host": "127.0.0.1", "port": 5432,
        "serviceHost": "main", "servicePort": 5432, "databases": ["engarde"],
        "data": {"postgresMajor": "15", "volume": "engarde-dev-main-data"},
    }  # fmt: skip


def _dsn(result: Capture, service: str, key: str) -> dict[str, str]:
    url = env_of(result, service)[key]
    return {key: str(value) for key, value in conninfo_to_dict(url).items()}


# service, env key, server, role, database, search_path (None: no options in the URL)
DSNS = [
    ("backend", "DATABASE_URL", "main", "engarde_app", "engarde", "public"),
    ("backend", "LANGFLOW_DATABASE_URL", "flowdb", "engarde_flow_reader", "langflow", None),
    ("madan-sara", "DATABASE_URL", "main", "madansara_user", "engarde", "madansara,public"),
    ("capilytics-seo", "DATABASE_URL", "main", "capilytics_user", "engarde", "capilytics,public"),
    ("langflow-server", "LANGFLOW_DATABASE_URL", "flowdb", "langflow_app", "langflow", None),
    ("langflow-server", "ENGARDE_DATABASE_URL", "main", "langflow_reader", "engarde", "public"),
    ("postgres-exporter", "DATA_SOURCE_NAME", "main", "engarde_monitor", "engarde", None),
]


@pytest.mark.parametrize(("service", "key", "server", "role", "database", "search_path"), DSNS)
def test_dsn_parses_with_libpq_rules_and_carries_role_credentials_and_search_path(
    dev: Capture, service: str, key: str, server: str, role: str, database: str, search_path: str | None
) -> None:
    url = env_of(dev, service)[key]
    parsed = _dsn(dev, service, key)
    assert parsed["user"] == role
    assert is_verifier_of(role_passwords(dev)[(server, role)], parsed["password"])
    assert (parsed["host"], parsed["port"], parsed["dbname"]) == (server, "5432", database)
    if search_path is None:
        assert "options" not in parsed
    else:
        assert parsed["options"] == f"-c search_path={search_path}"
        # libpq rejects a raw '=' or ',' in the value: both must be percent-encoded.
        assert "search_path%3D" in url and "search_path=" not in url
        assert "," not in url


def test_generated_role_passwords_need_url_encoding_and_are_encoded(dev: Capture) -> None:
    url = env_of(dev, "backend")["DATABASE_URL"]
    userinfo = url.split("://", 1)[1].rsplit("@", 1)[0]
    password = unquote(userinfo.split(":", 1)[1])
    assert set(password) & set("!#%&*()=+[]{}<>:?@/^")
    assert is_verifier_of(role_passwords(dev)[("main", "engarde_app")], password)
    assert not set(userinfo.split(":", 1)[1]) & set("@/?#[]:")


def test_shared_placement_langflow_uses_its_schema_alone(shared: Capture) -> None:
    parsed = _dsn(shared, "langflow-server", "LANGFLOW_DATABASE_URL")
    assert (parsed["user"], parsed["host"], parsed["options"]) == ("langflow_app", "main", "-c search_path=langflow")
    langflow_role = next(r for r in shared.by_type(ROLE) if inputs(r)["name"] == "langflow_app")
    # Langflow drops URL options: the role-level path is what applies, and `public` is not in it.
    assert inputs(langflow_role)["searchPaths"] == ["langflow"]
    assert not [r for r in shared.resources if "flowdb" in r.name]
    assert "postgres-exporter-flowdb" not in unwrap_secrets(shared.outputs["services"])


def test_role_level_search_paths(dev: Capture) -> None:
    paths = {
        (server_of(dev, r), inputs(r)["name"]): inputs(r).get("searchPaths")
        for r in dev.by_type(ROLE)
        if inputs(r)["login"]
    }
    assert paths[("main", "engarde_app")] == ["public"]
    assert paths[("main", "madansara_user")] == ["madansara", "public"]
    assert paths[("main", "langflow_reader")] == ["public"]


def test_scheduler_password_is_alphanumeric(dev: Capture) -> None:
    env = env_of(dev, "egm-scheduler")
    assert env["DB_USERNAME"] == "scheduler_user"
    assert env["DB_NAME"] == "easyappointments"
    assert env["DB_HOST"] == "scheduler"
    assert len(env["DB_PASSWORD"]) >= 24
    assert set(env["DB_PASSWORD"]) <= set(string.ascii_letters + string.digits)
    user = next(u for u in dev.by_type(MYSQL_USER) if inputs(u)["user"] == "scheduler_user")
    assert inputs(user)["plaintextPassword"] == env["DB_PASSWORD"]
    assert isinstance(user.inputs["plaintextPassword"], Secret)
    grant = next(g for g in map(inputs, dev.by_type(MYSQL_GRANT)) if g["user"] == "scheduler_user")
    assert (grant["user"], grant["database"], grant["privileges"]) == (
        "scheduler_user",
        "easyappointments",
        ["ALL PRIVILEGES"],
    )


def test_providers_take_host_and_port_from_their_server_container(dev: Capture) -> None:
    by_urn = dev.by_urn()
    for provider in dev.resources:
        if not provider.type.startswith(PROVIDER_PREFIX):
            continue
        container = next(r for r in dev.by_type(CONTAINER) if r.parent == provider.parent)
        data_inputs = ("host", "port") if provider.type.endswith("postgresql") else ("endpoint",)
        for name in data_inputs:
            assert container.urn in provider.property_dependencies[name], f"{by_urn[provider.urn].name}.{name}"
        assert inputs(container)["wait"] is True


def test_database_containers_use_a_tcp_healthcheck(dev: Capture) -> None:
    checks = {inputs(c)["name"]: inputs(c)["healthcheck"]["tests"] for c in dev.by_type(CONTAINER)  # type: ignore[index]
              if inputs(c)["name"] in {"engarde-dev-main", "engarde-dev-scheduler"}}  # fmt: skip
    assert "pg_isready -h 127.0.0.1" in checks["engarde-dev-main"][1]
    assert "SELECT 1" in checks["engarde-dev-scheduler"][1] and "--protocol=TCP" in checks["engarde-dev-scheduler"][1]


def test_every_password_is_generated_and_every_credential_env_is_secret(dev: Capture) -> None:
    for container in dev.by_type(CONTAINER):
        env = container.inputs.get("envs")
        if env:
            assert isinstance(env, Secret), f"{container.name}: envs is not secret"
    for role in dev.by_type(ROLE):
        if inputs(role)["login"]:
            assert isinstance(role.inputs["password"], Secret)
    assert dev.by_type(PASSWORD)


def test_third_party_images_are_pinned(dev: Capture) -> None:
    for container in dev.by_type(CONTAINER):
        image = str(inputs(container)["image"])
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image


def test_prod_adopts_external_databases_and_protects_stateful_resources(prod: Capture) -> None:
    assert not prod.by_type(DATABASE), "prod must never create or drop the managed databases"
    assert not prod.by_type(CONTAINER) and not prod.by_type(VOLUME)
    assert len(prod.by_type(MYSQL_DATABASE)) == 1
    providers = {r.name: inputs(r) for r in prod.resources if r.type == POSTGRES_PROVIDER}
    assert providers["main-provider"]["superuser"] == "false"
    assert providers["main-provider"]["sslmode"] == "require"
    assert providers["main-provider"]["host"] == "postgres.railway.internal"
    assert providers["main-provider"]["database"] == "railway"
    stateful = (
        prod.by_type(SCHEMA)
        + prod.by_type(MYSQL_DATABASE)
        + [r for r in prod.by_type(ROLE) if inputs(r)["name"] in {"engarde_app", "langflow_app", "audit_owner"}]
    )
    assert stateful and all(r.protect for r in stateful)
    url = _dsn(prod, "madan-sara", "DATABASE_URL")
    assert (url["host"], url["dbname"], url["sslmode"]) == ("postgres.railway.internal", "railway", "require")
    assert prod.outputs["servers"]["main"]["mode"] == "external"


def test_protected_container_stacks_keep_volumes_on_delete() -> None:
    result = capture("dev", protect=True)
    volumes = result.by_type(VOLUME)
    assert len(volumes) == 4  # three servers' data and the backups
    assert all(v.protect and v.retain_on_delete for v in volumes)
    servers = [c for c in result.by_type(CONTAINER) if inputs(c)["name"] in {"engarde-dev-main", "engarde-dev-flowdb"}]
    assert all(c.protect for c in servers)


def test_a_service_added_through_config_gets_schema_role_grants_and_env() -> None:
    result = capture("dev", services={"billing": {"image": "ghcr.io/engardehq/billing:1.2.0", "reads": ["madansara"]}})
    cells = matrix(result)
    assert cells[("main", "billing", "billing_user")] == OWN
    assert cells[("main", "audit", "billing_user")] == A
    assert cells[("main", "madansara", "billing_user")] == R
    assert cells[("main", "billing", "analytics_readonly")] == R
    assert cells[("main", "billing", "audit_user")] == R
    schema = next(s for s in result.by_type(SCHEMA) if inputs(s)["name"] == "billing")
    assert inputs(schema)["owner"] == "billing_user"
    reads = {inputs(g)["role"] for g in result.by_type(GRANT) if inputs(g)["schema"] == "billing"}
    assert reads == {"billing_read"}
    assert "billing_user" in members_of(result, "main", "madansara_read")
    parsed = conninfo_to_dict(env_of(result, "billing")["DATABASE_URL"])
    assert (parsed["user"], parsed["options"]) == ("billing_user", "-c search_path=billing,public")
    container = next(c for c in result.by_type(CONTAINER) if inputs(c)["name"] == "engarde-dev-billing")
    assert inputs(container)["image"] == "ghcr.io/engardehq/billing:1.2.0"


def test_outputs_only_stack_registers_no_container() -> None:
    result = capture("prod", runContainers=False, mainAdminPassword="x", flowdbAdminPassword="y",
                     schedulerAdminPassword="z")  # fmt: skip
    assert not result.by_type(CONTAINER)
    assert set(unwrap_secrets(result.outputs["services"])) >= {"backend", "langflow-server", "egm-scheduler"}


def test_every_login_role_reaches_its_user_through_a_dsn_in_the_services_output(dev: Capture) -> None:
    dsn_roles = set()
    for service in unwrap_secrets(dev.outputs["services"]).values():
        for value in service["env"].values():
            if value.startswith("postgresql://"):
                parsed = conninfo_to_dict(value)
                dsn_roles.add((str(parsed["host"]), str(parsed["user"])))
    logins = {(server_of(dev, r), inputs(r)["name"]) for r in dev.by_type(ROLE) if inputs(r)["login"]}
    assert dsn_roles == logins
    assert set(env_of(dev, "reporting")) == {"DATABASE_URL"}
    assert _dsn(dev, "compliance", "LANGFLOW_DATABASE_URL")["user"] == "audit_user"
    containers = {inputs(c)["name"] for c in dev.by_type(CONTAINER)}
    assert not {"engarde-dev-reporting", "engarde-dev-compliance"} & containers


def test_prod_never_drops_data_through_deletes(prod: Capture) -> None:
    assert prod.by_type(SCHEMA) and all(inputs(s)["dropCascade"] is False for s in prod.by_type(SCHEMA))
    owners = {inputs(s)["owner"] for s in prod.by_type(SCHEMA)} | {"engarde_app", "langflow_app"}
    for role in prod.by_type(ROLE):
        attrs = inputs(role)
        if attrs["name"] in owners:
            # A role that owns objects is never REASSIGN/DROP OWNED: deleting it fails instead.
            assert attrs.get("skipReassignOwned") is True, attrs["name"]
            assert role.protect, attrs["name"]
    users = [u for u in prod.by_type(MYSQL_USER) if inputs(u)["user"] == "scheduler_user"]
    scheduler = prod.by_type(MYSQL_DATABASE) + users
    assert len(scheduler) == 2 and all(r.protect for r in scheduler)


def test_a_service_starts_after_its_grants_and_waits_for_no_other_service(dev: Capture) -> None:
    container = next(c for c in dev.by_type(CONTAINER) if inputs(c)["name"] == "engarde-dev-madan-sara")
    waits_for = {dev.by_urn()[urn].name for urn in ancestors(dev, container)}
    # The login role holds its memberships, and it waits for its group roles.
    assert {"main-madansara_user", "main-madansara", "main-audit_append"} <= waits_for
    assert {"main-madansara_read-default-sequences", "main-audit_read-default-sequences"} <= waits_for
    others = [c for c in dev.by_type(CONTAINER) if str(inputs(c)["name"]).startswith("engarde-dev-") and c != container]
    assert container.urn not in set().union(*(ancestors(dev, c) for c in others))


@pytest.mark.parametrize("stack", ["dev", "prod", "shared"])
def test_memberships_are_declared_only_in_the_members_roles(stack: str, request: pytest.FixtureRequest) -> None:
    # postgresql.Role's update revokes every membership and grants back only `roles`
    # (resource_postgresql_role.go: resourcePostgreSQLRoleUpdate): a GrantRole on a role the stack
    # manages would vanish on the role's next update.
    result: Capture = request.getfixturevalue(stack)
    assert not result.by_type(GRANT_ROLE)
    by_urn = result.by_urn()
    for role in result.by_type(ROLE):
        groups = [g for g in inputs(role).get("roles") or [] if not g.startswith("pg_")]  # type: ignore[attr-defined]
        server = server_of(result, role)
        group_urns = {
            group.urn
            for group in result.by_type(ROLE)
            if server_of(result, group) == server and inputs(group)["name"] in groups
        }
        assert len(group_urns) == len(groups), inputs(role)["name"]
        # Created after its groups: it depends on them through their name Outputs.
        assert group_urns <= set(role.property_dependencies.get("roles", [])), inputs(role)["name"]
        assert all(by_urn[u].type == ROLE for u in group_urns)
    cells = matrix(result)
    for (server, schema, login), profile in cells.items():
        if profile not in (OWN, B):  # backup reads through pg_read_all_data, not a group
            assert login in members_of(result, server, f"{schema}_{profile}"), (server, schema, login)


def attrs_of(resource: Any) -> dict[str, Any]:
    """Inputs, typed loosely for the nested shapes these tests read."""
    return inputs(resource)


def test_dev_runs_a_backup_job_per_database_with_the_servers_image_on_one_volume(dev: Capture) -> None:
    jobs = {
        attrs_of(c)["name"]: c for c in dev.by_type(CONTAINER) if attrs_of(c)["name"].startswith("engarde-dev-backup-")
    }
    assert {name: attrs_of(c)["image"] for name, c in jobs.items()} == {
        "engarde-dev-backup-main": "postgres:15.8",
        "engarde-dev-backup-flowdb": "postgres:15.8",
        "engarde-dev-backup-scheduler": "mysql:8.0.39",
    }
    backups = next(v for v in dev.by_type(VOLUME) if attrs_of(v)["name"] == "engarde-dev-backups")
    for name, container in jobs.items():
        attrs = attrs_of(container)
        assert attrs["command"][:2] == ["sh", "-c"], name
        assert attrs["volumes"] == [{"volumeName": attrs_of(backups)["name"], "containerPath": "/backups"}]
        assert isinstance(container.inputs["envs"], Secret), name
    main_env = dict(e.split("=", 1) for e in attrs_of(jobs["engarde-dev-backup-main"])["envs"])
    assert main_env["BACKUP_KEEP"] == "7" and main_env["BACKUP_INTERVAL_SECONDS"] == "86400"
    url = conninfo_to_dict(main_env["BACKUP_DATABASE_URL"])
    assert (url["user"], url["host"], url["dbname"]) == ("engarde_backup", "main", "engarde")


def test_prod_hands_the_backup_jobs_env_to_the_platform(prod: Capture) -> None:
    assert not prod.by_type(CONTAINER)
    env = unwrap_secrets(prod.outputs["services"])
    main = conninfo_to_dict(env["backup-main"]["env"]["BACKUP_DATABASE_URL"])
    assert (main["user"], main["dbname"], main["sslmode"]) == ("engarde_backup", "railway", "require")
    assert conninfo_to_dict(env["backup-flowdb"]["env"]["BACKUP_DATABASE_URL"])["user"] == "engarde_backup"
    scheduler = env["backup-scheduler"]["env"]
    assert scheduler["BACKUP_MYSQL_USER"] == "scheduler_backup"
    assert scheduler["BACKUP_MYSQL_DATABASE"] == "easyappointments"
    user = next(u for u in prod.by_type(MYSQL_USER) if attrs_of(u)["user"] == "scheduler_backup")
    assert attrs_of(user)["plaintextPassword"] == scheduler["BACKUP_MYSQL_PASSWORD"]
    grant = next(g for g in prod.by_type(MYSQL_GRANT) if attrs_of(g)["user"] == "scheduler_backup")
    assert sorted(attrs_of(grant)["privileges"]) == ["SELECT", "SHOW VIEW", "TRIGGER"]


def test_backup_roles_read_through_pg_read_all_data_and_hold_no_group(dev: Capture) -> None:
    backups = [r for r in dev.by_type(ROLE) if attrs_of(r)["name"] == "engarde_backup"]
    assert len(backups) == 2
    assert all(attrs_of(r)["roles"] == ["pg_read_all_data"] and attrs_of(r)["login"] for r in backups)
    assert "engarde_backup" not in {attrs_of(g)["role"] for g in dev.by_type(GRANT_ROLE)}
    assert "engarde_backup" not in {attrs_of(g)["role"] for g in dev.by_type(GRANT)}


def test_exporters_get_their_servers_queries_as_a_file(dev: Capture) -> None:
    exporter = next(c for c in dev.by_type(CONTAINER) if attrs_of(c)["name"] == "engarde-dev-postgres-exporter-flowdb")
    (upload,) = attrs_of(exporter)["uploads"]
    assert upload["file"] == "/etc/postgres-exporter/queries.yaml"
    queries = yaml.safe_load(upload["content"])
    assert set(queries) == {"engarde_role_connections", "engarde_schema", "engarde_langflow_tuples"}
    assert "'langflow_app'" in queries["engarde_role_connections"]["query"]
    env = dict(e.split("=", 1) for e in attrs_of(exporter)["envs"])
    assert env["PG_EXPORTER_EXTEND_QUERY_PATH"] == upload["file"]


def test_logins_output_names_each_services_roles_in_clear_and_matches_its_credentials(dev: Capture) -> None:
    rows = dev.outputs["logins"]
    assert not isinstance(rows, Secret)
    logins = {(row["service"], row["server"], row["role"]) for row in rows}
    assert {
        ("backend", "main", "engarde_app"),
        ("backend", "flowdb", "engarde_flow_reader"),
        ("compliance", "flowdb", "audit_user"),
        ("egm-scheduler", "scheduler", "scheduler_user"),
        ("backup-scheduler", "scheduler", "scheduler_backup"),
        ("postgres-exporter-flowdb", "flowdb", "engarde_monitor"),
    } <= logins
    servers = unwrap_secrets(dev.outputs["servers"])
    for service, body in unwrap_secrets(dev.outputs["services"]).items():
        for value in body["env"].values():
            if str(value).startswith("postgresql://"):
                dsn = conninfo_to_dict(str(value))
                host_server = next(n for n, b in servers.items() if b["serviceHost"] == dsn["host"])
                assert (service, host_server, unquote(str(dsn["user"]))) in logins


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_redis_entry_gives_redis_the_password_every_redis_url_holds(
    stack: str, request: pytest.FixtureRequest
) -> None:
    outputs: Capture = request.getfixturevalue(stack)
    assert isinstance(outputs.outputs["services"], Secret)
    services = unwrap_secrets(outputs.outputs["services"])
    password = services["redis"]["env"]["REDIS_PASSWORD"]
    assert services["redis"]["image"].startswith("redis:")
    urls = [env["REDIS_URL"] for env in (s["env"] for s in services.values()) if "REDIS_URL" in env]
    assert urls
    assert {unquote(url.split("://:", 1)[1].rsplit("@", 1)[0]) for url in urls} == {password}


@pytest.mark.parametrize("protect", [False, True])
def test_a_disposable_servers_database_waits_for_its_roles(protect: bool) -> None:
    """So `pulumi destroy` drops the database, with the tables its roles own, before the roles: the provider's
    DROP OWNED runs in its own database only, and DROP ROLE failed on engarde_app owning public's tables.
    A protected server is not disposable: its database waits for no role it does not own."""
    result = capture("dev", protect=protect)
    databases = result.by_type(DATABASE)
    assert databases
    for database in databases:
        server = server_of(result, database)
        roles = {r.urn for r in result.by_type(ROLE) if server_of(result, r) == server}
        waited = roles & ancestors(result, database)
        assert (waited == roles) is not protect, server
