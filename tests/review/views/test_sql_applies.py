"""The rendered SQL, applied for real: PostgreSQL 15 and MariaDB servers started by the test.

What users depend on: a server's script runs once with `psql -v ON_ERROR_STOP=1` as a superuser,
its passwords given as psql variables or written in by `--secrets-from` from the stack's outputs; a
second run fails on the first object that exists (as `pulumi up` would) and changes nothing; the
services' roles then log in with the passwords and search paths the stack wires into their env.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from review.capture.program import unwrap_secrets
from review.views.sql import secrets_from_outputs
from tests.realdb.conftest import require_packages
from tests.realdb.servers import MARIADB_PACKAGE, POSTGRES_PACKAGE, RunningServer, mariadb_server, postgres_server
from tests.review.conftest import argv, capture_for, plan, plan_for


def _endpoint(server: RunningServer) -> list[str]:
    return ["-h", server.host, "-p", str(server.port), "-U", server.admin_user]


def _psql(server: RunningServer, script: Path, *extra: str) -> None:
    psql = shutil.which("psql")
    assert psql is not None, "psql (postgresql-client) is required"
    subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", *extra, *_endpoint(server), "-d", "postgres", "-f", str(script)],
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


def _outputs(tmp_path: Path) -> Path:
    """What `pulumi stack output --json --show-secrets` holds, from the same program run."""
    path = tmp_path / "outputs.json"
    path.write_text(plan(*argv("dev", "--format", "json", "--show-secrets")).out)
    return path


def _script(tmp_path: Path, server: str, *extra: str) -> Path:
    result = plan(*argv("dev", "--format", "sql", "--server", server, *extra))
    assert result.code == 0, result.err
    path = tmp_path / f"{server}{'-filled' if extra else ''}.sql"
    path.write_text(result.out)
    return path


def test_postgres_scripts_apply_once_and_a_second_run_fails_changing_nothing(tmp_path: Path) -> None:
    require_packages(POSTGRES_PACKAGE)
    outputs = _outputs(tmp_path)
    stack_plan = plan_for("dev")
    # main with its passwords given as psql variables, flowdb with them written in by --secrets-from
    variables = secrets_from_outputs(stack_plan, "main", json.loads(outputs.read_text()))
    runs = [
        (_script(tmp_path, "main"), [arg for name, value in variables.items() for arg in ("-v", f"{name}={value}")]),
        (_script(tmp_path, "flowdb", "--secrets-from", str(outputs)), []),
    ]
    # Two servers: roles are per server, and both stacks' servers create `audit_user`.
    with postgres_server("review-main") as main, postgres_server("review-flowdb") as flowdb:
        for pg, (script, extra) in zip((main, flowdb), runs, strict=True):
            _psql(pg, script, *extra)
            after_first_run = _catalog(pg)
            with pytest.raises(subprocess.CalledProcessError) as failure:
                _psql(pg, script, *extra)
            assert b"already exists" in failure.value.stderr
            assert _catalog(pg) == after_first_run

        services = unwrap_secrets(stack_plan.outputs["services"])
        for pg, service, variable, expected in (
            (main, "madan-sara", "DATABASE_URL", ("madansara_user", ["search_path=madansara, public"])),
            (flowdb, "langflow-server", "LANGFLOW_DATABASE_URL", ("langflow_app", ["search_path=public"])),
        ):
            url = re.sub(r"@\w+:5432/", f"@{pg.host}:{pg.port}/", services[service]["env"][variable])
            with psycopg.connect(url) as connection:
                row = connection.execute("SELECT current_user, rolconfig FROM pg_roles WHERE rolname = current_user")
                assert row.fetchone() == expected


def test_mysql_script_applies_once_and_a_second_run_fails(tmp_path: Path) -> None:
    require_packages(MARIADB_PACKAGE)
    script = _script(tmp_path, "scheduler", "--secrets-from", str(_outputs(tmp_path)))
    mysql = shutil.which("mariadb") or shutil.which("mysql")
    assert mysql is not None
    with mariadb_server("review-plan") as server:
        command = [mysql, "-h", server.host, "-P", str(server.port), "-u", server.admin_user]
        env = {**os.environ, "MYSQL_PWD": server.admin_password}
        subprocess.run(command, stdin=script.open(), env=env, check=True, capture_output=True)
        second = subprocess.run(command, stdin=script.open(), env=env, capture_output=True, text=True)
        assert second.returncode != 0 and "Operation CREATE USER failed" in second.stderr
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


def test_mysql_script_refuses_to_run_with_its_placeholders_unfilled_and_runs_once_filled(tmp_path: Path) -> None:
    require_packages(MARIADB_PACKAGE)
    script = _script(tmp_path, "scheduler")
    mysql = shutil.which("mariadb") or shutil.which("mysql")
    assert mysql is not None and shutil.which("envsubst") is not None
    services = unwrap_secrets(capture_for("dev").outputs["services"])
    values = {
        "scheduler_scheduler_user_password": services["egm-scheduler"]["env"]["DB_PASSWORD"],
        "scheduler_scheduler_backup_password": services["backup-scheduler"]["env"]["BACKUP_MYSQL_PASSWORD"],
    }
    with mariadb_server("review-guard") as server:
        command = [mysql, "-h", server.host, "-P", str(server.port), "-u", server.admin_user]
        env = {**os.environ, "MYSQL_PWD": server.admin_password}
        unfilled = subprocess.run(command, stdin=script.open(), env=env, capture_output=True, text=True)
        assert unfilled.returncode != 0 and "ERROR 1242" in unfilled.stderr
        users = [*command, "-N", "-e", "SELECT user FROM mysql.user WHERE user LIKE 'scheduler%'"]
        assert subprocess.run(users, env=env, capture_output=True, text=True, check=True).stdout == ""
        filled = subprocess.run(
            ["envsubst"], stdin=script.open(), env={**os.environ, **values}, capture_output=True, text=True, check=True
        ).stdout
        subprocess.run(command, input=filled, env=env, capture_output=True, text=True, check=True)
        shown = subprocess.run(users, env=env, capture_output=True, text=True, check=True).stdout.split()
        assert sorted(shown) == ["scheduler_backup", "scheduler_user"]
