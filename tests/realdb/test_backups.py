"""Backups restored on real servers, following the restore runbook of docs/operations.md.

Services write through their own DSNs (every schema on main, the audit log, flowdb, the scheduler);
each backup job's script runs once with the env the `services` output hands it (pg_dump as
`engarde_backup`, mysqldump as `scheduler_backup`); the dumps are restored into fresh servers on which
the stack's SQL was applied first; every table's row count and checksum match, every access-matrix
cell holds on the restored data and the drift audit finds nothing.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from review.audit.checks import audit_servers
from review.capture.program import unwrap_secrets
from tests.conftest import cached_run_program
from tests.expected import DEDICATED_MATRIX
from tests.realdb.access_probes import ALLOWED, TABLES, probe
from tests.realdb.conftest import (
    POSTGRES,
    Deployment,
    Servers,
    admin,
    apply_all,
    external_config,
    mysql_admin,
    service_dsns,
)
from tests.realdb.servers import mariadb_server, postgres_server
from tests.realdb.test_access import CELLS
from topology import load_topology
from topology.backups import DUMP_EXTENSIONS, LAST_SUCCESS_METRIC, job_script
from topology.model import Engine
from topology.sql import quote_ident, quote_mysql_ident

# Backup and restore are not a question of the server version or the admin kind (and Debian's pg_dump 15
# dumps servers up to 15): they run once, on PostgreSQL 15.
pytestmark = pytest.mark.postgres_independent

ROWS = 200
MAIN_SERVICES = {
    "backend": "engarde_app",
    "madan-sara": "madansara_user",
    "sankore-paidads": "sankore_user",
    "onside": "onside_user",
    "capilytics-seo": "capilytics_user",
}


def env_of(deployment: Deployment, service: str) -> dict[str, str]:
    env: dict[str, str] = unwrap_secrets(deployment.capture.outputs["services"])[service]["env"]
    return env


def services_write(deployment: Deployment) -> None:
    """What the services do in production, each through the DSN the stack hands it."""
    for service, role in MAIN_SERVICES.items():
        with psycopg.connect(env_of(deployment, service)["DATABASE_URL"], autocommit=True) as connection:
            # Unqualified names: the DSN's search_path puts the table in the service's own schema.
            connection.execute(
                "CREATE TABLE orders (id bigserial PRIMARY KEY, customer text NOT NULL, total numeric(12, 2),"
                " placed_at timestamptz NOT NULL DEFAULT now(), tags jsonb)"
            )
            connection.execute(
                "INSERT INTO orders (customer, total, tags) SELECT 'customer ' || i, i * 1.25,"
                " jsonb_build_object('n', i, 'service', %s::text) FROM generate_series(1, %s) i",
                (service, ROWS),
            )
            connection.execute(
                "INSERT INTO audit.cross_schema_access (source_schema, target_schema, query)"
                " SELECT current_schema(), 'public', 'SELECT ' || i FROM generate_series(1, 25) i"
            )
            assert connection.execute("SELECT current_user").fetchone() == (role,)
    langflow = env_of(deployment, "langflow-server")["LANGFLOW_DATABASE_URL"]
    with psycopg.connect(langflow, autocommit=True) as connection:
        # Langflow's own names (flow, message) are left to the migration tests that share this server.
        connection.execute("CREATE TABLE saved_flow (id uuid PRIMARY KEY, name text, data json)")
        connection.execute(
            "CREATE TABLE flow_message (id bigserial PRIMARY KEY, flow_id uuid REFERENCES saved_flow (id), text text)"
        )
        connection.execute(
            "INSERT INTO saved_flow SELECT md5(i::text)::uuid, 'flow ' || i, json_build_object('nodes', i)"
            " FROM generate_series(1, 40) i"
        )
        connection.execute(
            "INSERT INTO flow_message (flow_id, text) SELECT md5((i %% 40 + 1)::text)::uuid, repeat('m', i)"
            " FROM generate_series(1, %s) i",
            (ROWS * 3,),
        )
    scheduler = env_of(deployment, "egm-scheduler")
    mysql = pymysql.connect(
        host="127.0.0.1",
        port=deployment.servers["scheduler"].port,
        user=scheduler["DB_USERNAME"],
        password=scheduler["DB_PASSWORD"],
        database=scheduler["DB_NAME"],
        autocommit=True,
    )
    try:
        with mysql.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE ea_appointments (id int AUTO_INCREMENT PRIMARY KEY, notes text,"
                " start_datetime datetime NOT NULL, hash varchar(64))"
            )
            # A trigger and a view: what the backup user's TRIGGER and SHOW VIEW are for.
            cursor.execute(
                "CREATE TRIGGER ea_appointments_hash BEFORE INSERT ON ea_appointments"
                " FOR EACH ROW SET NEW.hash = SHA2(COALESCE(NEW.notes, ''), 256)"
            )
            cursor.execute("CREATE VIEW ea_upcoming AS SELECT id, start_datetime FROM ea_appointments")
            cursor.executemany(
                "INSERT INTO ea_appointments (notes, start_datetime) VALUES (%s, %s)",
                [(f"appointment {i} ünïcode", f"2026-01-{i % 28 + 1:02d} 10:00:00") for i in range(ROWS)],
            )
    finally:
        mysql.close()


def run_job(deployment: Deployment, server: str, directory: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """The backup job's own script, once, with the env the `services` output hands the job."""
    job = next(j for j in deployment.topology.backups if j.server == server)
    env = {**env_of(deployment, job.service), "BACKUP_DIR": str(directory), "BACKUP_ONCE": "1", **extra}
    if job.engine is Engine.MYSQL:  # the job reaches the server at its service host; here that is loopback
        env["BACKUP_MYSQL_PORT"] = str(deployment.servers["scheduler"].port)
    return subprocess.run(
        ["sh", "-c", job_script(job.engine)],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def newest_dump(directory: Path, server: str, engine: Engine) -> Path:
    return sorted((directory / server).glob(f"{server}-*.{DUMP_EXTENSIONS[engine]}"))[-1]


# Comparison ------------------------------------------------------------------------------------

Digests = dict[tuple[str, str, str], tuple[int, str]]
"""(server, schema, table) -> (rows, sha256 of the rows in primary-key order)"""


def postgres_digests(connection: psycopg.Connection[Any], server: str) -> Digests:
    tables = connection.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        " AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2"
    ).fetchall()
    digests: Digests = {}
    for schema, table in tables:
        name = f"{quote_ident(schema)}.{quote_ident(table)}"
        rows = connection.execute(f"SELECT t::text FROM {name} t ORDER BY 1").fetchall()
        digests[(server, schema, table)] = (len(rows), _sha256(row[0] for row in rows))
    return digests


def mysql_digests(connection: Any, database: str) -> Digests:
    digests: Digests = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE'"
            " ORDER BY 1",
            (database,),
        )
        for (table,) in cursor.fetchall():
            cursor.execute(f"SELECT * FROM {quote_mysql_ident(database)}.{quote_mysql_ident(table)} ORDER BY 1")
            rows = cursor.fetchall()
            digests[("scheduler", database, table)] = (len(rows), _sha256(repr(row) for row in rows))
    return digests


def _sha256(lines: Any) -> str:
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def all_digests(servers: Servers, databases: dict[str, str]) -> Digests:
    digests: Digests = {}
    for name in POSTGRES:
        with admin(servers[name], databases[name]) as connection:
            digests |= postgres_digests(connection, name)
    connection = mysql_admin(servers["scheduler"])
    try:
        digests |= mysql_digests(connection, databases["scheduler"])
    finally:
        connection.close()
    return digests


# Fixtures --------------------------------------------------------------------------------------


@dataclass
class Restored:
    """The dumps, and the fresh servers they were restored into."""

    source: Deployment
    target: Deployment
    dumps: dict[str, Path]
    before: Digests
    after: Digests


@contextlib.contextmanager
def fresh_servers() -> Iterator[Servers]:
    """Three empty servers, started side by side (each start mostly waits on its own processes)."""
    managers = [postgres_server("restore-main"), postgres_server("restore-flowdb"), mariadb_server("restore-scheduler")]
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(len(managers)) as pool:
        main, flowdb, scheduler = [f.result() for f in [pool.submit(stack.enter_context, m) for m in managers]]
        yield Servers(main=main, flowdb=flowdb, scheduler=scheduler)


def apply_stack(servers: Servers) -> Deployment:
    """Runbook step 1: the stack applied to empty servers (roles, schemas, grants, the audit table)."""
    config = external_config(servers)
    topology = load_topology(config, "dev")
    for name in POSTGRES:
        with admin(servers[name], "postgres") as connection:
            connection.execute(f"CREATE DATABASE {quote_ident(topology.servers[name].database)}")
    capture = cached_run_program(
        config, "dev", secret_keys=tuple(key for key in config if key.endswith("AdminPassword"))
    )
    apply_all(capture, topology, servers)
    return Deployment(capture, topology, servers, [], service_dsns(capture, servers))


def restore(target: Deployment, dumps: dict[str, Path]) -> None:
    """Runbook step 2: each dump restored as the admin, exactly as the runbook says."""
    for name in POSTGRES:
        server = target.servers[name]
        subprocess.run(
            ["pg_restore", f"--dbname={server.dsn(target.topology.servers[name].database)}", "--clean",
             "--if-exists", "--single-transaction", "--exit-on-error", "--no-password", str(dumps[name])],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    scheduler = target.servers["scheduler"]
    option_file = dumps["scheduler"].parent / "restore.cnf"  # the password stays off the command line
    option_file.write_text(f"[client]\npassword={scheduler.admin_password}\n")
    option_file.chmod(0o600)
    with gzip.open(dumps["scheduler"], "rb") as dump:
        subprocess.run(
            ["mysql", f"--defaults-extra-file={option_file}", "--host=127.0.0.1", f"--port={scheduler.port}",
             f"--user={scheduler.admin_user}", target.topology.servers["scheduler"].database],
            input=dump.read(), check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    option_file.unlink()


def databases(deployment: Deployment) -> dict[str, str]:
    return {name: spec.database for name, spec in deployment.topology.servers.items()}


@pytest.fixture(scope="module")
def restored(deployed: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restored]:
    services_write(deployed)
    directory = tmp_path_factory.mktemp("backups")
    for job in deployed.topology.backups:
        result = run_job(deployed, job.server, directory)
        assert result.returncode == 0, result.stderr
    dumps = {job.server: newest_dump(directory, job.server, job.engine) for job in deployed.topology.backups}
    before = all_digests(deployed.servers, databases(deployed))
    with fresh_servers() as servers:
        target = apply_stack(servers)
        restore(target, dumps)
        yield Restored(deployed, target, dumps, before, all_digests(servers, databases(target)))


# Tests -----------------------------------------------------------------------------------------


def test_every_table_restores_with_the_same_rows_and_checksum(restored: Restored) -> None:
    before, after = restored.before, restored.after
    written = {("main", schema, "orders") for schema in ("public", "madansara", "sankore", "onside", "capilytics")}
    written |= {
        ("main", "audit", "cross_schema_access"),
        ("flowdb", "public", "saved_flow"),
        ("flowdb", "public", "flow_message"),
    }
    written |= {("scheduler", "easyappointments", "ea_appointments")}
    assert written <= set(before)
    assert all(before[table][0] > 0 for table in written)
    assert after == before
    lines = [f"{s}.{schema}.{t}: {rows} rows, sha256 {digest[:12]}" for (s, schema, t), (rows, digest) in after.items()]
    print("\nrestore comparison (source == restored):\n  " + "\n  ".join(lines))


def test_restored_views_and_triggers_work(restored: Restored) -> None:
    connection = mysql_admin(restored.target.servers["scheduler"])
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM easyappointments.ea_upcoming")
            assert cursor.fetchone() == (ROWS,)
            cursor.execute("INSERT INTO easyappointments.ea_appointments (notes, start_datetime) VALUES ('x', now())")
            cursor.execute("SELECT hash FROM easyappointments.ea_appointments ORDER BY id DESC LIMIT 1")
            assert cursor.fetchone() == (hashlib.sha256(b"x").hexdigest(),)
    finally:
        connection.close()


def test_every_access_matrix_cell_holds_on_the_restored_data(restored: Restored) -> None:
    failures = []
    for server, role in dict.fromkeys((server, role) for server, role, _schema in CELLS):
        with restored.target.connect(server, role, autocommit=True) as connection:
            for _server, _role, schema in (cell for cell in CELLS if cell[:2] == (server, role)):
                profile = DEDICATED_MATRIX.get((server, schema, role))
                for table in TABLES:
                    found = probe(connection, schema, table)
                    if found != ALLOWED[profile]:
                        failures.append(f"{server} {role} on {schema}.{table} ({profile}): {sorted(found)}")
    assert failures == []


def test_owners_grants_and_default_privileges_survive_the_restore(restored: Restored) -> None:
    servers = restored.target.servers
    dsns = {"main": servers.main.dsn(), "flowdb": servers.flowdb.dsn(), "scheduler": servers["scheduler"].dsn()}
    assert audit_servers(restored.target.topology, dsns) == []
    with admin(servers.main, "engarde") as connection:
        owners = dict(connection.execute("SELECT schemaname, tableowner FROM pg_tables WHERE tablename = 'orders'"))
    assert owners == {
        "public": "engarde_app", "madansara": "madansara_user", "sankore": "sankore_user",
        "onside": "onside_user", "capilytics": "capilytics_user",
    }  # fmt: skip
    # A service keeps writing after the restore: its sequence and its default privileges came back.
    with psycopg.connect(env_of(restored.target, "madan-sara")["DATABASE_URL"], autocommit=True) as connection:
        row = connection.execute("INSERT INTO orders (customer) VALUES ('after restore') RETURNING id").fetchone()
        assert row == (ROWS + 1,)


def test_the_backup_logins_can_dump_but_not_write(restored: Restored) -> None:
    with restored.source.connect("main", "engarde_backup", autocommit=True) as connection:
        for statement in ("INSERT INTO madansara.orders (customer) VALUES ('x')", "CREATE TABLE public.x (i int)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), connection.transaction():
                connection.execute(statement)
    env = env_of(restored.source, "backup-scheduler")
    mysql = pymysql.connect(host="127.0.0.1", port=restored.source.servers["scheduler"].port,
                            user=env["BACKUP_MYSQL_USER"], password=env["BACKUP_MYSQL_PASSWORD"],
                            database=env["BACKUP_MYSQL_DATABASE"], autocommit=True)  # fmt: skip
    try:
        with mysql.cursor() as cursor, pytest.raises(pymysql.err.OperationalError):
            cursor.execute("INSERT INTO ea_appointments (notes, start_datetime) VALUES ('x', now())")
    finally:
        mysql.close()


def test_the_job_keeps_the_newest_dumps_and_reports_its_last_success(deployed: Deployment, tmp_path: Path) -> None:
    old = [tmp_path / "main" / f"main-2020010{day}T000000Z.dump" for day in range(1, 6)]
    for path in old:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"an older dump")
    unrelated = tmp_path / "main" / "notes.txt"
    unrelated.write_text("kept")
    result = run_job(deployed, "main", tmp_path, BACKUP_KEEP="3")
    assert result.returncode == 0, result.stderr
    kept = sorted(p.name for p in (tmp_path / "main").iterdir())
    newest = newest_dump(tmp_path, "main", Engine.POSTGRESQL)
    assert kept == [old[3].name, old[4].name, newest.name, "notes.txt"]
    metrics = (tmp_path / "metrics" / "main.prom").read_text()
    assert f'{LAST_SUCCESS_METRIC}{{database="main"}} ' in metrics
    assert f'engarde_backup_size_bytes{{database="main"}} {newest.stat().st_size}\n' in metrics


def test_a_failed_backup_keeps_the_earlier_dumps_and_reports_nothing(deployed: Deployment, tmp_path: Path) -> None:
    earlier = tmp_path / "main" / "main-20200101T000000Z.dump"
    earlier.parent.mkdir()
    earlier.write_bytes(b"an earlier dump")
    url = env_of(deployed, "backup-main")["BACKUP_DATABASE_URL"].replace("@", "x@", 1)  # a wrong password
    result = run_job(deployed, "main", tmp_path, BACKUP_DATABASE_URL=url, BACKUP_KEEP="1")
    assert result.returncode == 1
    assert "backup of main failed" in result.stderr
    assert sorted(p.name for p in (tmp_path / "main").iterdir()) == [earlier.name]
    assert not (tmp_path / "metrics" / "main.prom").exists()
