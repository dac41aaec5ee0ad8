"""Streaming replication on real servers, as the stack renders it for a container primary with one
container replica: the primary runs the settings and pg_hba.conf of its captured container (the
replicas' network is loopback here), the stack's SQL for main is applied to it (roles, schemas,
grants, the replicator role and the replica's slot), and the replica is started by the script its
captured container runs, with that container's environment. Services reach both through the DSNs the
`services` output hands them, their hosts mapped to the throwaway servers (Docker's DNS does that
on the stack's network).

Runs once per selected PostgreSQL version (15 and 17 in CI); the admin is the bootstrap superuser,
as in a container the stack runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors

from resource_types import CONTAINER
from review.capture.program import FABRICATED_SUBNET, Capture, Resource, unwrap_secrets
from review.views.sql import sql_steps
from tests.conftest import cached_run_program, stack_file_config, with_replicas
from tests.graph import plan_of
from tests.realdb import postgres_builds
from tests.realdb import servers as harness
from tests.realdb.conftest import _require, apply_postgres, live_server_context
from tests.realdb.exporter import run_exporter, scrape, value
from tests.realdb.matrix import Combination, selected
from tests.realdb.postgres_servers import _postgres_bindir
from tests.realdb.standby import Standby, standby
from topology import Topology, load_topology
from topology.catalog import REPLICATOR
from topology.model import Replica
from topology.monitoring import EXPORTER_QUERIES_PATH
from topology.replication import HBA_FILE, PRIMARY_HOST_VARIABLE, PRIMARY_PORT_VARIABLE

VERSIONS = sorted({c.version for c in selected()})
CONFIG = {**stack_file_config("dev"), "servers": with_replicas("dev", {"main": [{}]})}


def container(capture: Capture, name: str) -> Resource:
    return next(r for r in capture.resources if r.type == CONTAINER and r.name == name)


@dataclass
class Replicated:
    capture: Capture
    topology: Topology
    primary: harness.RunningServer
    replica: Standby
    spec: Replica
    version: int

    def dsn(self, service: str, variable: str = "DATABASE_URL") -> str:
        """The service's DSN, with the stack's host names mapped to the throwaway servers."""
        url: str = unwrap_secrets(self.capture.outputs["services"])[service]["env"][variable]
        return url.replace(f"{self.spec.host}:5432", f"127.0.0.1:{self.replica.port}").replace(
            "main:5432", f"127.0.0.1:{self.primary.port}"
        )

    def superuser(self, port: int, database: str = "engarde") -> psycopg.Connection[Any]:
        return psycopg.connect(host="127.0.0.1", port=port, user="postgres", password=self.primary.admin_password,
                               dbname=database, autocommit=True)  # fmt: skip

    def caught_up(self, timeout: float = 30.0) -> None:
        """Wait until the replica has replayed everything the primary has written."""
        with self.superuser(self.primary.port) as primary:
            # Insert, not write position: the test servers commit asynchronously (synchronous_commit=off).
            lsn = primary.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]  # type: ignore[index]
        deadline = time.monotonic() + timeout
        with self.superuser(self.replica.port) as replica:
            while True:
                row = replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()
                if row and row[0]:
                    return
                assert time.monotonic() < deadline, (
                    f"the replica did not replay {lsn}: {self.replica.log_text()[-2000:]}"
                )
                time.sleep(0.1)


def primary_settings(capture: Capture) -> tuple[list[str], str]:
    """The `-c` settings of the captured primary container (its hba_file left to the harness), and the
    pg_hba.conf it uploads, for replicas on loopback instead of the Docker network."""
    main = container(capture, "main-container")
    command = list(main.inputs["command"])
    assert command[0] == "postgres"
    settings = [value for flag, value in zip(command[1::2], command[2::2], strict=True) if flag == "-c"]
    assert f"hba_file={HBA_FILE}" in settings
    (upload,) = unwrap_secrets(main.inputs["uploads"])
    assert upload["file"] == HBA_FILE
    hba = str(upload["content"]).replace(FABRICATED_SUBNET, "127.0.0.1/32")
    return [s for s in settings if not s.startswith("hba_file=")], hba


@pytest.fixture(scope="module", params=VERSIONS, ids=[f"pg{v}" for v in VERSIONS])
def replicated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicated]:
    version: int = request.param
    _require(Combination(version, "superuser"))
    capture = cached_run_program(CONFIG, "dev")
    topology = load_topology(CONFIG, "dev")
    settings, hba = primary_settings(capture)
    spec = topology.servers["main"].replicas[0]
    replica_container = container(capture, f"{spec.name}-container")
    entrypoint = list(replica_container.inputs["entrypoints"])
    assert entrypoint[:2] == ["/bin/sh", "-c"] and entrypoint[3:] == ["replica"]
    env = dict(item.split("=", 1) for item in unwrap_secrets(replica_container.inputs["envs"]))
    assert env[PRIMARY_HOST_VARIABLE] == "main" and env[PRIMARY_PORT_VARIABLE] == "5432"
    with harness.postgres_server("replicated-main", version=version, settings=settings, hba=hba) as primary:
        steps = sql_steps(plan_of(capture), "main", live_server_context(capture, topology, primary, "main"))
        apply_postgres(primary, steps, "postgres")
        # pg_basebackup refuses a newer server: the client programs of the same major (Debian's for 15).
        path = str(_postgres_bindir(version))
        if version in postgres_builds.CLIENTS:
            path += f":{postgres_builds.client_bindir(version)}"
        with standby(entrypoint[2], path, primary, env["PGPASSWORD"]) as replica:
            yield Replicated(capture, topology, primary, replica, spec, version)


def test_the_primary_runs_the_rendered_settings_pg_hba_and_replicator_role(replicated: Replicated) -> None:
    with replicated.superuser(replicated.primary.port) as primary:
        assert primary.execute("SHOW max_slot_wal_keep_size").fetchone() == ("10GB",)
        assert primary.execute("SHOW wal_level").fetchone() == ("replica",)
        rules = primary.execute(
            "SELECT type, database, user_name, address, auth_method FROM pg_hba_file_rules ORDER BY rule_number"
            if primary.info.server_version >= 160000
            else "SELECT type, database, user_name, address, auth_method FROM pg_hba_file_rules ORDER BY line_number"
        ).fetchall()
        assert rules == [
            ("local", ["all"], ["all"], None, "trust"),
            ("host", ["replication"], [REPLICATOR], "127.0.0.1", "scram-sha-256"),
            ("host", ["all"], ["all"], "all", "scram-sha-256"),
        ]
        attributes = primary.execute(
            "SELECT rolcanlogin, rolreplication, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolconnlimit"
            " FROM pg_roles WHERE rolname = %s",
            (REPLICATOR,),
        ).fetchone()
        assert attributes == (True, True, False, False, False, False, 2)
        replicating = primary.execute("SELECT rolname FROM pg_roles WHERE rolreplication AND NOT rolsuper").fetchall()
        assert replicating == [(REPLICATOR,)]
        # It holds nothing on any schema: no membership, no grant.
        held = primary.execute(
            "SELECT count(*) FROM pg_auth_members WHERE member = %s::regrole", (REPLICATOR,)
        ).fetchone()
        assert held == (0,)


def test_the_replica_took_its_base_backup_through_its_slot_and_keeps_no_password(replicated: Replicated) -> None:
    with replicated.superuser(replicated.replica.port) as replica:
        assert replica.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        assert replica.execute("SELECT status FROM pg_stat_wal_receiver").fetchone() == ("streaming",)
    with replicated.superuser(replicated.primary.port) as primary:
        slot = primary.execute(
            "SELECT slot_type, active FROM pg_replication_slots WHERE slot_name = %s", (replicated.spec.slot,)
        ).fetchone()
        assert slot == ("physical", True)
        sender = primary.execute("SELECT usename, state FROM pg_stat_replication").fetchall()
        assert sender == [(REPLICATOR, "streaming")]
    pgdata = replicated.replica.pgdata
    assert (pgdata / "standby.signal").exists()
    auto_conf = (pgdata / "postgresql.auto.conf").read_text()
    assert "primary_conninfo" in auto_conf and f"primary_slot_name = '{replicated.spec.slot}'" in auto_conf
    assert "password" not in auto_conf and replicated.replica.replicator_password not in auto_conf


def test_rows_a_service_writes_on_the_primary_are_read_through_reportings_dsn_on_the_replica(
    replicated: Replicated,
) -> None:
    with psycopg.connect(replicated.dsn("madan-sara"), autocommit=True) as writer:
        assert writer.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
        writer.execute("CREATE TABLE madansara.visits (id serial PRIMARY KEY, page text)")
        writer.execute("INSERT INTO madansara.visits (page) SELECT 'p' || g FROM generate_series(1, 100) g")
    replicated.caught_up()
    with psycopg.connect(replicated.dsn("reporting")) as reader:
        assert reader.execute("SELECT pg_is_in_recovery(), inet_server_port()").fetchone() == (
            True,
            replicated.replica.port,
        )
        assert reader.execute("SELECT count(*) FROM madansara.visits").fetchone() == (100,)
    # compliance reads there too; the writers' DSNs never list a replica.
    with psycopg.connect(replicated.dsn("compliance")) as compliance:
        assert compliance.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
    services = unwrap_secrets(replicated.capture.outputs["services"])
    for name in ("backend", "madan-sara", "langflow-server", "backup-main"):
        for url in services[name]["env"].values():
            assert isinstance(url, str) and replicated.spec.host not in url


def test_a_write_through_reportings_dsn_is_refused_by_the_replica(replicated: Replicated) -> None:
    with psycopg.connect(replicated.dsn("reporting")) as reader, pytest.raises(errors.ReadOnlySqlTransaction):
        reader.execute("INSERT INTO madansara.visits (page) VALUES ('x')")


def test_without_the_replica_reporting_reads_the_primary_and_the_replica_catches_up_from_its_slot(
    replicated: Replicated,
) -> None:
    marker = replicated.replica.pgdata / "engarde-test-marker"
    marker.write_text("a new base backup would remove this file")
    replicated.replica.stop()
    with psycopg.connect(replicated.dsn("reporting")) as reader:
        assert reader.execute("SELECT pg_is_in_recovery(), inet_server_port()").fetchone() == (
            False,
            replicated.primary.port,
        )
    with psycopg.connect(replicated.dsn("madan-sara"), autocommit=True) as writer:
        writer.execute("INSERT INTO madansara.visits (page) SELECT 'q' || g FROM generate_series(1, 50) g")
    with replicated.superuser(replicated.primary.port) as primary:
        slot = primary.execute(
            "SELECT active, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), restart_lsn) > 0 FROM pg_replication_slots"
            " WHERE slot_name = %s",
            (replicated.spec.slot,),
        ).fetchone()
        assert slot == (False, True)  # the slot keeps the WAL the replica has not received
    replicated.replica.start()
    assert marker.exists()
    replicated.caught_up()
    with psycopg.connect(replicated.dsn("reporting")) as reader:
        assert reader.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        assert reader.execute("SELECT count(*) FROM madansara.visits").fetchone() == (150,)


def test_the_replicas_exporter_reports_its_lag_and_the_primarys_its_slot(
    replicated: Replicated, tmp_path: Path
) -> None:
    services = {s.name: s for s in replicated.topology.services}
    replica_exporter = f"postgres-exporter-{replicated.spec.name}"
    queries = services[replica_exporter].files[EXPORTER_QUERIES_PATH]
    with replicated.superuser(replicated.replica.port) as replica:
        replica.execute("SELECT pg_wal_replay_pause()")
        with psycopg.connect(replicated.dsn("madan-sara"), autocommit=True) as writer:
            writer.execute("INSERT INTO madansara.visits (page) VALUES ('late')")
        time.sleep(2)
        with run_exporter(
            replicated.dsn(replica_exporter, "DATA_SOURCE_NAME"), queries, tmp_path, "replica", replicated.version
        ) as url:
            paused = scrape(url)
            replica.execute("SELECT pg_wal_replay_resume()")
            replicated.caught_up()
            resumed = scrape(url)
    assert value(paused, "pg_up") == 1
    assert value(paused, "engarde_replica_streaming") == 1
    assert value(paused, "engarde_replica_lag_seconds") >= 2
    assert value(resumed, "engarde_replica_lag_seconds") == 0
    primary_queries = services["postgres-exporter"].files[EXPORTER_QUERIES_PATH]
    with run_exporter(
        replicated.dsn("postgres-exporter", "DATA_SOURCE_NAME"), primary_queries, tmp_path, "main", replicated.version
    ) as url:
        primary = scrape(url)
    assert value(primary, "engarde_replication_slot_active", slot=replicated.spec.slot) == 1
    assert value(primary, "engarde_replication_slot_retained_bytes", slot=replicated.spec.slot) >= 0
