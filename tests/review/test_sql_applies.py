"""The rendered SQL, applied for real: PostgreSQL 15 and MariaDB servers started by the test.

What users depend on: the `--show-secrets` script of a server runs with `psql -v ON_ERROR_STOP=1`
as a superuser, a second run succeeds and changes nothing, and the services' roles can then log in
with the passwords and search paths the stack wires into their env.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import psycopg

from review.capture import unwrap_secrets
from tests.realdb.conftest import require_packages
from tests.realdb.servers import MARIADB_PACKAGE, POSTGRES_PACKAGE, RunningServer, mariadb_server, postgres_server
from tests.review.conftest import argv, capture_for, plan


def _endpoint(server: RunningServer) -> list[str]:
    return ["-h", server.host, "-p", str(server.port), "-U", server.admin_user]


def _psql(server: RunningServer, script: Path) -> None:
    psql = shutil.which("psql")
    assert psql is not None, "psql (postgresql-client) is required"
    subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", *_endpoint(server), "-d", "postgres", "-f", str(script)],
        env={**os.environ, "PGPASSWORD": server.admin_password},
        check=True,
        capture_output=True,
    )


def _catalog(server: RunningServer) -> str:
    """Roles, memberships, schemas, ACLs and default privileges of every database (no passwords)."""
    dumpall = shutil.which("pg_dumpall")
    assert dumpall is not None
    completed = subprocess.run(
        [dumpall, "--schema-only", "--no-role-passwords", *_endpoint(server)],
        env={**os.environ, "PGPASSWORD": server.admin_password},
        check=True,
        capture_output=True,
        text=True,
    )
    # pg_dump's \restrict keys are random per run.
    return "\n".join(line for line in completed.stdout.splitlines() if "restrict " not in line)


def _script(tmp_path: Path, server: str) -> Path:
    result = plan(*argv("dev", "--format", "sql", "--server", server, "--show-secrets"))
    assert result.code == 0, result.err
    path = tmp_path / f"{server}.sql"
    path.write_text(result.out)
    return path


def test_postgres_scripts_apply_twice_and_the_second_run_changes_nothing(tmp_path: Path) -> None:
    require_packages(POSTGRES_PACKAGE)
    scripts = [_script(tmp_path, server) for server in ("main", "flowdb")]
    with postgres_server("review-plan") as pg:
        for script in scripts:
            _psql(pg, script)
        after_first_run = _catalog(pg)
        for script in scripts:
            _psql(pg, script)
        assert _catalog(pg) == after_first_run

        env = unwrap_secrets(capture_for("dev").outputs["services"])["madan-sara"]["env"]
        url = env["DATABASE_URL"].replace("@main:5432/", f"@{pg.host}:{pg.port}/")
        with psycopg.connect(url) as connection:
            row = connection.execute("SELECT current_user, rolconfig FROM pg_roles WHERE rolname = current_user")
            assert row.fetchone() == ("madansara_user", ["search_path=madansara, public"])
            owner = connection.execute("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'madansara'")
            assert owner.fetchone() == ("madansara_user",)


def test_mysql_script_applies_twice(tmp_path: Path) -> None:
    require_packages(MARIADB_PACKAGE)
    script = _script(tmp_path, "scheduler")
    mysql = shutil.which("mariadb") or shutil.which("mysql")
    assert mysql is not None
    with mariadb_server("review-plan") as server:
        command = [mysql, "-h", server.host, "-P", str(server.port), "-u", server.admin_user]
        env = {**os.environ, "MYSQL_PWD": server.admin_password}
        for _ in range(2):
            subprocess.run(command, stdin=script.open(), env=env, check=True, capture_output=True)
        password = unwrap_secrets(capture_for("dev").outputs["services"])["egm-scheduler"]["env"]["DB_PASSWORD"]
        login = [mysql, "-h", server.host, "-P", str(server.port), "-u", "scheduler_user", "-N", "-e"]
        shown = subprocess.run(
            [*login, "SHOW GRANTS"],
            env={**os.environ, "MYSQL_PWD": password},
            check=True,
            capture_output=True,
            text=True,
        )
        assert "GRANT ALL PRIVILEGES ON `easyappointments`.* TO `scheduler_user`@`%`" in shown.stdout
