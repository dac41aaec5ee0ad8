"""crossDatabaseReads: postgres_fdw under main's component, on a provider of main's layout database,
its mappings' password a secret, its refresh function after the schema's grants and flowdb's reader."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from resource_types import (
    COMPONENT_PREFIX,
    DYNAMIC_RESOURCE,
    PG_EXTENSION,
    PG_FOREIGN_SERVER,
    PG_ROLE,
    PG_USER_MAPPING,
    POSTGRES_PROVIDER,
)
from review.capture.program import Capture, Resource, Secret
from tests.components.tree import component
from tests.graph import env_of, inputs, plan_of
from topology.catalog import ANALYTICS, FLOW_READER, REMOTE_OWNER
from topology.layout import load_topology
from topology.names import ConfigError

COMPONENT = f"{COMPONENT_PREFIX}:CrossDatabaseReads"


def _one(capture: Capture, type_: str, name: str) -> Resource:
    (found,) = [r for r in capture.resources if r.type == type_ and r.name == name]
    return found


def test_everything_nests_under_mains_component_on_a_provider_of_mains_database(cross_reads: Capture) -> None:
    (reads,) = cross_reads.by_type(COMPONENT)
    assert reads.parent == component(cross_reads, "PostgresServer", "main").urn
    extension = _one(cross_reads, PG_EXTENSION, "cross-database-reads-extension")
    server = _one(cross_reads, PG_FOREIGN_SERVER, "cross-database-reads-server")
    mappings = [r for r in cross_reads.by_type(PG_USER_MAPPING)]
    assert sorted(str(inputs(m)["userName"]) for m in mappings) == sorted([ANALYTICS, REMOTE_OWNER])
    provider = _one(cross_reads, POSTGRES_PROVIDER, "main-engarde-provider")
    # The container server's own provider connects to `postgres`: the foreign server and the mappings
    # would land there, so they take a second provider on main's database.
    assert inputs(_one(cross_reads, POSTGRES_PROVIDER, "main-provider"))["database"] == "postgres"
    assert inputs(provider)["database"] == "engarde"
    assert {r.provider for r in (extension, server, *mappings)} == {provider.urn}
    assert {r.parent for r in (extension, server, *mappings)} == {reads.urn}
    assert inputs(server) == {
        "serverName": "engarde_flowdb", "fdwName": "postgres_fdw", "dropCascade": True,
        "options": {"host": "flowdb", "port": "5432", "dbname": "langflow"},
    }  # fmt: skip
    assert extension.urn in server.depends_on
    assert {plan_of(cross_reads).server_of(r) for r in (extension, server, *mappings)} == {"main"}


def test_each_mapping_logs_in_as_flowdbs_read_only_role_with_its_password_as_a_secret(cross_reads: Capture) -> None:
    # The reader's password, as the backend's DSN for flowdb carries it.
    reader_password = urlsplit(env_of(cross_reads, "backend")["LANGFLOW_DATABASE_URL"]).password
    assert reader_password and urlsplit(env_of(cross_reads, "backend")["LANGFLOW_DATABASE_URL"]).username == FLOW_READER
    for mapping in cross_reads.by_type(PG_USER_MAPPING):
        options: Any = mapping.inputs["options"]
        options = options.value if isinstance(options, Secret) else options
        assert options["user"] == FLOW_READER
        assert isinstance(options["password"], Secret) or isinstance(mapping.inputs["options"], Secret)
        password = options["password"].value if isinstance(options["password"], Secret) else options["password"]
        assert password == unquote(reader_password)


def test_the_refresh_function_waits_for_the_schemas_grants_the_mappings_and_flowdbs_reader(
    cross_reads: Capture,
) -> None:
    (script,) = [r for r in cross_reads.by_type(DYNAMIC_RESOURCE) if r.name == "cross-database-reads-refresh-function"]
    waits = plan_of(cross_reads).waits_for(script.urn)
    wanted = [
        _one(cross_reads, PG_ROLE, f"flowdb-{FLOW_READER}"),
        *cross_reads.by_type(PG_USER_MAPPING),
        *[r for r in cross_reads.resources if r.name.startswith("main-langflow_remote_read-")],
    ]
    assert {r.urn for r in wanted} <= waits
    assert f'GRANT EXECUTE ON FUNCTION "langflow_remote"."refresh_foreign_tables"() TO "{ANALYTICS}"' in str(
        script.inputs["sql"]
    )


def test_an_external_main_uses_its_own_provider_already_on_its_database(cross_reads_prod: Capture) -> None:
    providers = [r.name for r in cross_reads_prod.by_type(POSTGRES_PROVIDER)]
    assert "main-engarde-provider" not in providers
    server = _one(cross_reads_prod, PG_FOREIGN_SERVER, "cross-database-reads-server")
    assert str(server.provider).endswith("::main-provider")


@pytest.mark.parametrize(
    ("config", "allowed"),
    [
        ({"crossDatabaseReads": True, "langflowPlacement": "shared"}, "dedicated only"),
        (
            {
                "crossDatabaseReads": True,
                "servers": {"main": {"mode": "external", "host": "db", "superuser": False}},
                "mainAdminPassword": "x",
            },
            "superuser",
        ),
        (
            {
                "crossDatabaseReads": True,
                "servers": {"main": {"mode": "external", "host": "db", "superuser": True}},
                "mainAdminPassword": "x",
            },
            "flowdb external too",
        ),
        ({"crossDatabaseReads": "yes"}, "true or false"),
    ],
)
def test_cross_database_reads_refuses_what_it_cannot_build_naming_the_key(config: dict[str, Any], allowed: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_topology(config, "dev")
    assert error.value.key == "crossDatabaseReads"
    assert allowed in str(error.value)


def test_off_by_default_nothing_of_it_is_registered(dev: Capture) -> None:
    assert not dev.by_type(COMPONENT) and not dev.by_type(PG_USER_MAPPING)
    assert load_topology({}, "dev").cross_database_reads is None
