"""Read replicas: container replicas nest under their server with a slot, a volume and a container that
starts after the primary; external ones create nothing; the readers' DSNs list them, the writers' never."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from resource_types import COMPONENT_PREFIX, CONTAINER, PG_PHYSICAL_SLOT, PG_ROLE, VOLUME
from review.capture.program import Capture, Resource
from tests.components.tree import component
from tests.graph import env_of, inputs
from topology.catalog import REPLICATOR

REPLICA = f"{COMPONENT_PREFIX}:PostgresReplica"
READERS = {("reporting", "DATABASE_URL"), ("compliance", "DATABASE_URL"), ("compliance", "LANGFLOW_DATABASE_URL")}


def named(capture: Capture, type_name: str, name: str) -> Resource:
    (found,) = [r for r in capture.resources if r.type == type_name and r.name == name]
    return found


def test_each_container_replica_nests_under_its_server_with_its_slot_volume_and_container(
    replicated: Capture,
) -> None:
    replicas = {r.name: r for r in replicated.by_type(REPLICA)}
    assert sorted(replicas) == ["flowdb-replica-1", "main-replica-1", "main-replica-2"]
    for name, replica in replicas.items():
        server = name.split("-")[0]
        assert replica.parent == component(replicated, "PostgresServer", server).urn
        slot = named(replicated, PG_PHYSICAL_SLOT, f"{name}-slot")
        volume = named(replicated, VOLUME, f"{name}-data")
        container = named(replicated, CONTAINER, f"{name}-container")
        primary = named(replicated, CONTAINER, f"{server}-container")
        replicator = named(replicated, PG_ROLE, f"{server}-{REPLICATOR}")
        assert {slot.parent, volume.parent, container.parent} == {replica.urn}
        assert inputs(slot)["name"] == f"engarde_{server}_replica_{name[-1]}"
        assert slot.provider == replicator.provider and str(slot.provider).endswith(f"::{server}-provider")
        # The base backup needs the primary up and the replicator role; the container needs its slot.
        assert {primary.urn, replicator.urn} <= set(slot.depends_on)
        assert slot.urn in container.depends_on
        script = inputs(container)["entrypoints"]
        assert isinstance(script, list) and script[:2] == ["/bin/sh", "-c"]
        assert f"--slot={inputs(slot)['name']}" in script[2] and "--write-recovery-conf" in script[2]
        assert inputs(container)["volumes"] == [
            {"volumeName": inputs(volume)["name"], "containerPath": "/var/lib/postgresql"}
        ]


def test_replicas_publish_their_own_host_ports_on_loopback(replicated: Capture) -> None:
    ports = {
        name: inputs(named(replicated, CONTAINER, f"{name}-container"))["ports"]
        for name in ("main-replica-1", "main-replica-2", "flowdb-replica-1")
    }
    assert ports == {
        "main-replica-1": [{"internal": 5432.0, "external": 5532.0, "ip": "127.0.0.1"}],
        "main-replica-2": [{"internal": 5432.0, "external": 5600.0, "ip": "127.0.0.1"}],
        "flowdb-replica-1": [{"internal": 5432.0, "external": 5533.0, "ip": "127.0.0.1"}],
    }


def test_a_replication_role_exists_only_on_servers_with_container_replicas(
    dev: Capture, replicated: Capture, replicated_prod: Capture
) -> None:
    def replicators(capture: Capture) -> dict[str, dict[str, object]]:
        return {r.name: inputs(r) for r in capture.by_type(PG_ROLE) if inputs(r)["name"] == REPLICATOR}

    assert replicators(dev) == {} and replicators(replicated_prod) == {}
    found = replicators(replicated)
    assert sorted(found) == [f"flowdb-{REPLICATOR}", f"main-{REPLICATOR}"]
    assert found[f"main-{REPLICATOR}"]["replication"] is True and found[f"main-{REPLICATOR}"]["login"] is True
    assert found[f"main-{REPLICATOR}"]["connectionLimit"] == 4.0  # two replicas, each may reconnect once
    assert found[f"flowdb-{REPLICATOR}"]["connectionLimit"] == 2.0


def test_a_primary_with_replicas_runs_wal_settings_and_the_uploaded_pg_hba(dev: Capture, replicated: Capture) -> None:
    plain = " ".join(inputs(named(dev, CONTAINER, "main-container"))["command"])  # type: ignore[arg-type]
    assert "hba_file" not in plain and "max_slot_wal_keep_size" not in plain
    main = inputs(named(replicated, CONTAINER, "main-container"))
    command = main["command"]
    assert isinstance(command, list)
    assert {"hba_file=/etc/engarde/pg_hba.conf", "wal_level=replica", "max_slot_wal_keep_size=10GB"} <= set(command)
    uploads = main["uploads"]
    assert isinstance(uploads, list) and len(uploads) == 1
    upload: dict[str, str] = uploads[0]
    assert upload["file"] == "/etc/engarde/pg_hba.conf"
    assert f"host    replication  {REPLICATOR:<20} 172.18.0.0/16" in upload["content"]


def test_external_replicas_create_nothing_and_only_redirect_the_readers(replicated_prod: Capture) -> None:
    assert replicated_prod.by_type(REPLICA) == [] and replicated_prod.by_type(PG_PHYSICAL_SLOT) == []
    reporting = urlsplit(env_of(replicated_prod, "reporting")["DATABASE_URL"])
    assert reporting.netloc.split("@")[1] == "postgres-replica.railway.internal:5432,postgres.railway.internal:5432"
    assert parse_qs(reporting.query)["target_session_attrs"] == ["prefer-standby"]
    assert "load_balance_hosts" not in parse_qs(reporting.query)  # one replica: nothing to balance


def test_readers_list_the_replicas_first_and_writers_only_the_primary(replicated: Capture) -> None:
    routes = replicated.outputs["dsnRoutes"]
    by_variable = {(r["service"], r["variable"]): r for r in routes}
    assert set(by_variable) >= READERS
    for key, found in by_variable.items():
        if key in READERS:
            assert found["via"] == "replicas" and found["targetSessionAttrs"] == "prefer-standby", key
            assert found["hosts"][-1] in {"main:5432", "flowdb:5432"}, key
        elif found["via"] != "replica":  # the replicas' own exporters watch their replica
            assert found["via"] in {"primary", "pooler"} and len(found["hosts"]) == 1, key
            assert "replica" not in found["hosts"][0], key
    assert by_variable[("reporting", "DATABASE_URL")]["hosts"] == [
        "main-replica-1:5432",
        "main-replica-2:5432",
        "main:5432",
    ]
    assert by_variable[("reporting", "DATABASE_URL")]["loadBalanceHosts"] == "random"
    assert "loadBalanceHosts" not in by_variable[("compliance", "LANGFLOW_DATABASE_URL")]
    query = parse_qs(urlsplit(env_of(replicated, "reporting")["DATABASE_URL"]).query)
    assert query["target_session_attrs"] == ["prefer-standby"] and query["load_balance_hosts"] == ["random"]
