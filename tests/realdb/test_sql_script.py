"""The audit table's dynamic provider on a real PostgreSQL 15: pickled by value, read, diff, and
the table created by an admin that is not a superuser (the shape managed servers offer)."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dill  # type: ignore[import-untyped]
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.audit import AUDIT_TABLE, audit_table_exists_query, audit_table_sql
from components.sql_script import sql_script_provider
from tests.realdb.conftest import Servers, admin
from topology.sql import quote_ident, quote_literal

AUDIT_SCHEMA, AUDIT_OWNER = "audit", "audit_owner"


@dataclass(frozen=True)
class ManagedDatabase:
    """A database owned by a managed-style admin (LOGIN CREATEROLE CREATEDB, not superuser)."""

    name: str
    admin_user: str
    admin_password: str

    def props(self, servers: Servers, **overrides: Any) -> dict[str, Any]:
        """The resource's inputs as the program gives them (what the state holds)."""
        props = {
            "host": servers.main.host,
            "port": servers.main.port,
            "user": self.admin_user,
            "password": self.admin_password,
            "database": self.name,
            "sslmode": "disable",
            "sql": audit_table_sql(AUDIT_SCHEMA, AUDIT_OWNER),
            "exists_query": audit_table_exists_query(AUDIT_SCHEMA),
        }
        props.update(overrides)
        return props


@pytest.fixture
def managed(servers: Servers) -> Iterator[ManagedDatabase]:
    """The layout the postgresql provider leaves before the audit table: the owner role (created by
    the admin) and the schema it owns, on a database the non-superuser admin owns."""
    suffix = secrets.token_hex(4)
    database = ManagedDatabase(f"managed_{suffix}", f"cloudadmin_{suffix}", secrets.token_urlsafe(18))
    with admin(servers.main, "postgres") as connection:
        connection.execute(
            f"CREATE ROLE {quote_ident(database.admin_user)} LOGIN CREATEROLE CREATEDB "
            f"PASSWORD {quote_literal(database.admin_password)}"
        )
        connection.execute(f"CREATE DATABASE {quote_ident(database.name)} OWNER {quote_ident(database.admin_user)}")
    with admin(servers.main, database.name) as connection:
        connection.execute(f"SET ROLE {quote_ident(database.admin_user)}")
        created_owner = not connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (AUDIT_OWNER,)).fetchone()
        if created_owner:
            connection.execute(f"CREATE ROLE {AUDIT_OWNER} NOLOGIN")
        connection.execute("RESET ROLE")
        # The provider's Schema create elevates the same way (resource_postgresql_schema.go).
        connection.execute(f"CREATE SCHEMA {AUDIT_SCHEMA} AUTHORIZATION {AUDIT_OWNER}")
    yield database
    with admin(servers.main, "postgres") as connection:
        connection.execute(f"DROP DATABASE {quote_ident(database.name)}")
        connection.execute(f"DROP ROLE {quote_ident(database.admin_user)}")
        if created_owner:  # roles are server-wide: a deployment on this server creates its own
            connection.execute(f"DROP ROLE {AUDIT_OWNER}")


def table_owner(servers: Servers, database: str) -> str | None:
    with admin(servers.main, database) as connection:
        row = connection.execute(
            "SELECT tableowner FROM pg_tables WHERE schemaname = %s AND tablename = %s", (AUDIT_SCHEMA, AUDIT_TABLE)
        ).fetchone()
    return None if row is None else str(row[0])


def admin_is_member(servers: Servers, database: ManagedDatabase) -> bool:
    with admin(servers.main, database.name) as connection:
        row = connection.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (database.admin_user, AUDIT_OWNER)).fetchone()
    assert row is not None
    return bool(row[0])


# These set up their own admin shapes on PostgreSQL 15 (postgres_independent); the audit table under a
# managed admin on 16+ is covered by the deployment of the `managed` matrix cells.
pytestmark = pytest.mark.postgres_independent

# Runs where nothing of this project can be imported: only the venv's packages and the pickle.
_ISOLATED_RUNNER = """
import base64, json, sys
import dill

# An editable install of the checkout (what `make` does) would import it from anywhere: not on a host
# that only has the pickle.
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
sys.path_hooks[:] = [h for h in sys.path_hooks if "__editable__" not in getattr(h, "__module__", "")]
sys.path_importer_cache.clear()
for module in ("components", "topology", "review", "tests"):
    try:
        __import__(module)
    except ImportError:
        continue
    raise SystemExit(f"{module} is importable: the test would prove nothing")
request = json.load(sys.stdin)
provider = dill.loads(base64.b64decode(request["provider"]))
props = request["props"]
result = {"class": type(provider).__qualname__}
if request["op"] == "create":
    created = provider.create(props)
    result["id"] = created.id
elif request["op"] == "read":
    read = provider.read(request["id"], props)
    result["id"] = read.id
    result["outs_equal_props"] = read.outs == props
json.dump(result, sys.stdout)
"""


def run_isolated(tmp_path: Path, serialized: str, op: str, props: dict[str, Any], id_: str = "") -> dict[str, Any]:
    """The serialized provider unpickled and run by a fresh interpreter whose cwd and sys.path
    hold nothing of this project (`-I`: no PYTHONPATH, no script or cwd directory on sys.path)."""
    request = json.dumps({"provider": serialized, "op": op, "props": props, "id": id_})
    result = subprocess.run(
        [sys.executable, "-I", "-c", _ISOLATED_RUNNER],
        input=request,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_provider_pickles_by_value_and_runs_where_the_project_cannot_be_imported(
    servers: Servers, managed: ManagedDatabase, tmp_path: Path
) -> None:
    # Pickled by reference, unpickling would need `components.sql_script`: the runner proves it is
    # not importable there, so only a pickle by value passes.
    serialized = serialize_provider(sql_script_provider())
    props = managed.props(servers)
    created = run_isolated(tmp_path, serialized, "create", props)
    assert created["class"].endswith("SqlScriptProvider") and created["id"]
    assert table_owner(servers, managed.name) == AUDIT_OWNER
    read = run_isolated(tmp_path, serialized, "read", props, created["id"])
    assert read == {"class": created["class"], "id": created["id"], "outs_equal_props": True}
    with admin(servers.main, managed.name) as connection:
        connection.execute(f"DROP TABLE {AUDIT_SCHEMA}.{AUDIT_TABLE}")
    # Refresh notices the dropped table: the resource is reported gone (blank id).
    gone = run_isolated(tmp_path, serialized, "read", props, created["id"])
    assert gone["id"] is None


def test_serialization_is_stable_so_an_unchanged_program_shows_no_diff() -> None:
    assert serialize_provider(sql_script_provider()) == serialize_provider(sql_script_provider())


def test_a_managed_admin_creates_the_table_owned_by_its_owner_and_keeps_no_membership(
    servers: Servers, managed: ManagedDatabase
) -> None:
    assert not admin_is_member(servers, managed)
    provider = dill.loads(base64.b64decode(serialize_provider(sql_script_provider())))
    props = managed.props(servers)
    created = provider.create(props)
    assert table_owner(servers, managed.name) == AUDIT_OWNER
    # The membership lasted the transaction only, as withRolesGranted's.
    assert not admin_is_member(servers, managed)
    # Idempotent: an update (what a changed input runs) runs it again without error.
    provider.update(created.id, props, props)
    assert table_owner(servers, managed.name) == AUDIT_OWNER and not admin_is_member(servers, managed)


def test_a_managed_admin_that_is_already_a_member_keeps_its_membership(
    servers: Servers, managed: ManagedDatabase
) -> None:
    with admin(servers.main, managed.name) as connection:
        connection.execute(f"GRANT {AUDIT_OWNER} TO {quote_ident(managed.admin_user)}")
    provider = sql_script_provider()
    provider.create(managed.props(servers))
    assert table_owner(servers, managed.name) == AUDIT_OWNER
    assert admin_is_member(servers, managed)


def test_without_the_temporary_membership_a_managed_admin_cannot_set_role(
    servers: Servers, managed: ManagedDatabase
) -> None:
    """Why the grant is there: the bare `SET LOCAL ROLE` fails for this admin."""
    import psycopg

    bare = audit_table_sql(AUDIT_SCHEMA, AUDIT_OWNER).split("$grant$;\n", 1)[1]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        sql_script_provider().create(managed.props(servers, sql=bare))
    assert table_owner(servers, managed.name) is None


def test_read_of_an_existing_table_keeps_the_resource(servers: Servers, managed: ManagedDatabase) -> None:
    provider = sql_script_provider()
    props = managed.props(servers)
    created = provider.create(props)
    read = provider.read(created.id, props)
    assert (read.id, read.outs) == (created.id, props)


@pytest.mark.parametrize(
    ("field", "value"),
    [("sql", "SELECT 1"), ("exists_query", "SELECT 2"), ("host", "db.example"), ("port", 6543), ("user", "other"),
     ("password", "rotated"), ("database", "other"), ("sslmode", "verify-full"), ("sslrootcert", "/etc/ca.pem")],
)  # fmt: skip
def test_diff_runs_the_script_again_when_what_or_where_changes(field: str, value: Any) -> None:
    provider = sql_script_provider()
    olds = {"host": "h", "port": 5432, "user": "u", "password": "p", "database": "d", "sslmode": "require",
            "sql": "CREATE TABLE IF NOT EXISTS t ()", "exists_query": "SELECT 1"}  # fmt: skip
    assert provider.diff("id", olds, dict(olds)).changes is False
    changed = provider.diff("id", olds, {**olds, field: value})
    assert changed.changes is True
    assert not changed.replaces, "a changed input updates in place: the table is never dropped"
