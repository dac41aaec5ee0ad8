"""TLS verified end to end: a loopback PostgreSQL 15 with a certificate from its own CA, and the DSNs,
provider settings and audit-table script the stack renders for `sslmode: verify-full`."""

from __future__ import annotations

import dataclasses
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from components.sql_script import sql_script_provider
from resource_types import DYNAMIC_RESOURCE, MYSQL_USER, POSTGRES_PROVIDER
from review.capture.program import Capture, unwrap_secrets
from review.views.sql import sql_steps
from tests.conftest import cached_run_program
from tests.graph import env_of, plan_of
from tests.realdb.conftest import Servers, apply_mysql, external_config
from tests.realdb.servers import RunningServer, ServerTls, mariadb_server, postgres_server
from topology.sql import quote_ident, quote_literal

# TLS is libpq's and the server's, alike on every version: the first combination runs it.
pytestmark = pytest.mark.postgres_independent

SERVER_NAME = "localhost"


@dataclass(frozen=True)
class Pki:
    ca: Path
    other_ca: Path
    server: ServerTls


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(directory: Path, name: str) -> tuple[Path, Path]:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
             cwd=directory)  # fmt: skip
    return directory / f"{name}.crt", directory / f"{name}.key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory, servers: Servers) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca, ca_key = _ca(directory, "engarde-test-ca")
    other_ca, _ = _ca(directory, "another-ca")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key",
             "-out", "server.csr", "-subj", f"/CN={SERVER_NAME}", cwd=directory)  # fmt: skip
    (directory / "san.ext").write_text(f"subjectAltName=DNS:{SERVER_NAME}\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
             "-out", "server.crt", "-extfile", "san.ext", cwd=directory)  # fmt: skip
    return Pki(ca, other_ca, ServerTls(directory / "server.crt", directory / "server.key"))


@pytest.fixture(scope="module")
def tls_server(pki: Pki) -> Iterator[RunningServer]:
    with postgres_server("tls", tls=pki.server) as server:
        yield server


def tls_config(server: RunningServer, ca: Path) -> dict[str, Any]:
    main = {"mode": "external", "host": SERVER_NAME, "port": server.port, "database": "postgres", "maxConnections": 200,
            "adminUser": server.admin_user, "sslmode": "verify-full", "sslrootcert": str(ca),
            "superuser": True}  # fmt: skip
    return {
        "runContainers": False,
        "langflowPlacement": "shared",
        "servers": {"main": main, "scheduler": {"mode": "external", "host": "scheduler.invalid"}},
        "mainAdminPassword": server.admin_password,
        "schedulerAdminPassword": "unused",
    }


@pytest.fixture(scope="module")
def rendered(tls_server: RunningServer, pki: Pki) -> Capture:
    config = tls_config(tls_server, pki.ca)
    return cached_run_program(config, "dev", secret_keys=("mainAdminPassword", "schedulerAdminPassword"))


@pytest.fixture(scope="module")
def reporting_dsn(rendered: Capture, tls_server: RunningServer) -> str:
    """`reporting`'s DSN, its role created with the password the DSN carries (as `pulumi up` would)."""
    dsn = env_of(rendered, "reporting")["DATABASE_URL"]
    parsed = conninfo_to_dict(dsn)
    with psycopg.connect(tls_server.dsn(), autocommit=True) as connection:
        connection.execute(
            f"CREATE ROLE {quote_ident(str(parsed['user']))} LOGIN PASSWORD {quote_literal(str(parsed['password']))}"
        )
    return dsn


def test_the_rendered_dsn_verifies_the_server_and_connects_over_tls(reporting_dsn: str, pki: Pki) -> None:
    parsed = conninfo_to_dict(reporting_dsn)
    assert (parsed["sslmode"], parsed["sslrootcert"], parsed["host"]) == ("verify-full", str(pki.ca), SERVER_NAME)
    with psycopg.connect(reporting_dsn) as connection:
        row = connection.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row == (True,)


def test_a_wrong_ca_is_refused(reporting_dsn: str, pki: Pki) -> None:
    wrong = make_conninfo(reporting_dsn, sslrootcert=str(pki.other_ca))
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(wrong).close()


def test_a_wrong_host_name_is_refused(reporting_dsn: str) -> None:
    # Same server, same CA, reached by an address the certificate does not name.
    wrong = make_conninfo(reporting_dsn, host="127.0.0.1")
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        psycopg.connect(wrong).close()


def test_every_dsn_and_the_provider_carry_the_ca(rendered: Capture, pki: Pki) -> None:
    dsns = [
        value
        for service in unwrap_secrets(rendered.outputs["services"]).values()
        for value in service["env"].values()
        if value.startswith("postgresql://")
    ]
    assert dsns and all(conninfo_to_dict(d)["sslrootcert"] == str(pki.ca) for d in dsns)
    provider = next(r for r in rendered.resources if r.type == POSTGRES_PROVIDER)
    assert (provider.inputs["sslmode"], provider.inputs["sslrootcert"]) == ("verify-full", str(pki.ca))


def test_the_audit_scripts_connection_verifies_the_server(rendered: Capture, pki: Pki) -> None:
    script = next(r for r in rendered.resources if r.type == DYNAMIC_RESOURCE)
    props = unwrap_secrets({k: v for k, v in script.inputs.items() if not k.startswith("__")})
    assert (props["sslmode"], props["sslrootcert"]) == ("verify-full", str(pki.ca))
    probe = {**props, "sql": "SELECT 1", "exists_query": "SELECT 1"}
    provider = sql_script_provider()
    assert provider.read("id", probe).id == "id"
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        provider.read("id", {**probe, "sslrootcert": str(pki.other_ca)})


@pytest.mark.parametrize("sslmode", ["require", "disable"])
def test_mysql_backup_users_require_tls_where_the_stacks_connection_uses_it_and_the_scheduler_never(
    pki: Pki, servers: Servers, sslmode: str
) -> None:
    """EasyAppointments 1.5.0 connects without TLS whatever its env says (CodeIgniter's mysqli driver with
    `encrypt` unset): its user must accept a plain connection on a server the stack reaches with TLS."""
    import pymysql  # type: ignore[import-untyped, unused-ignore]

    with mariadb_server("tls-scheduler", tls=pki.server) as mariadb:
        config = external_config(dataclasses.replace(servers, scheduler=mariadb), backups={"schedule": "24h"})
        config["servers"]["scheduler"]["sslmode"] = sslmode
        capture = cached_run_program(config, "dev", secret_keys=tuple(k for k in config if k.endswith("AdminPassword")))
        options = {
            unwrap_secrets(r.inputs)["user"]: r.inputs.get("tlsOption")
            for r in capture.resources
            if r.type == MYSQL_USER
        }
        required = "SSL" if sslmode == "require" else None
        assert options.pop("scheduler_user") is None
        assert options and set(options.values()) == {required}
        apply_mysql(mariadb, sql_steps(plan_of(capture), "scheduler"))
        env = unwrap_secrets(capture.outputs["services"])
        context = ssl.create_default_context(cafile=str(pki.ca))
        context.check_hostname = False
        # As EasyAppointments connects: no TLS.
        scheduler = {
            "host": mariadb.host,
            "port": mariadb.port,
            "user": "scheduler_user",
            "password": env["egm-scheduler"]["env"]["DB_PASSWORD"],
        }
        pymysql.connect(**scheduler, database="easyappointments", ssl_disabled=True).close()
        jobs = {job: job_env for job, job_env in env.items() if "BACKUP_MYSQL_USER" in job_env.get("env", {})}
        assert jobs, "no MySQL backup job to check"
        for job, job_env in jobs.items():
            login = {
                "host": mariadb.host,
                "port": mariadb.port,
                "user": job_env["env"]["BACKUP_MYSQL_USER"],
                "password": job_env["env"]["BACKUP_MYSQL_PASSWORD"],
            }
            if required:
                with pytest.raises(pymysql.err.OperationalError) as refused:
                    pymysql.connect(**login, ssl_disabled=True).close()
                assert refused.value.args[0] == 1045, job  # access denied: the account requires TLS
            connection = pymysql.connect(**login, ssl=context)
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SHOW STATUS LIKE 'Ssl_cipher'")
                    assert cursor.fetchone()[1], job
            finally:
                connection.close()
