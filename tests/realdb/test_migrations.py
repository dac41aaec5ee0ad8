"""Migration independence, the reason for one schema per service: real Alembic migrations run with the services' DSNs
each create only their own tables and their own `alembic_version`, and never touch another's."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from psycopg.conninfo import conninfo_to_dict

from review.capture.program import unwrap_secrets
from tests.realdb.conftest import Deployment, Servers, deploy, one_postgres, superuser
from topology.dsn import postgres_url

ENV_PY = """
from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
engine = create_engine(config.attributes["url"], poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, version_table_schema=config.attributes.get("version_schema"))
    with context.begin_transaction():
        context.run_migrations()
"""

REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = None


def upgrade():
{tables}
"""


def migrate(workdir: Path, name: str, dsn: str, tables: list[str], version_schema: str | None = None) -> str:
    """Run a one-revision Alembic migration that creates `tables` (unqualified) through `dsn`."""
    scripts = workdir / name
    (scripts / "versions").mkdir(parents=True)
    (scripts / "env.py").write_text(ENV_PY)
    revision = f"{name.replace('-', '_')}_0001"
    creates = "\n".join(
        f'    op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True))' for table in tables
    )
    (scripts / "versions" / f"{revision}.py").write_text(textwrap.dedent(REVISION).format(revision=revision,
                                                                                          tables=creates))  # fmt: skip
    config = Config()
    config.set_main_option("script_location", str(scripts))
    config.attributes["url"] = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    config.attributes["version_schema"] = version_schema
    command.upgrade(config, "head")
    return revision


def tables_by_schema(deployment_servers: Servers, server: str, database: str) -> dict[str, set[str]]:
    with superuser(deployment_servers, server, database) as connection:
        rows = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
    found: dict[str, set[str]] = {}
    for schema, table in rows:
        found.setdefault(schema, set()).add(table)
    return found


def version_of(servers: Servers, server: str, database: str, schema: str) -> list[tuple[Any, ...]]:
    with superuser(servers, server, database) as connection:
        return connection.execute(f'SELECT version_num FROM "{schema}".alembic_version').fetchall()


def env(deployment: Deployment, service: str) -> dict[str, str]:
    services = unwrap_secrets(deployment.capture.outputs["services"])
    result: dict[str, str] = services[service]["env"]
    return result


def test_each_service_migrates_only_its_own_schema(deployed: Deployment, tmp_path: Path) -> None:
    servers = deployed.servers
    before = tables_by_schema(servers, "main", "engarde")
    backend = migrate(tmp_path, "backend", env(deployed, "backend")["DATABASE_URL"], ["users", "campaigns"])
    after_backend = tables_by_schema(servers, "main", "engarde")
    assert after_backend["public"] - before["public"] == {"users", "campaigns", "alembic_version"}
    assert {s: t for s, t in after_backend.items() if s != "public"} == {
        s: t for s, t in before.items() if s != "public"
    }

    madansara = migrate(tmp_path, "madan-sara", env(deployed, "madan-sara")["DATABASE_URL"],
                        ["campaigns", "leads"], version_schema="madansara")  # fmt: skip
    after_madansara = tables_by_schema(servers, "main", "engarde")
    assert after_madansara["madansara"] - before["madansara"] == {"campaigns", "leads", "alembic_version"}
    assert after_madansara["public"] == after_backend["public"], "madan-sara's migration touched public"
    assert version_of(servers, "main", "engarde", "public") == [(backend,)]
    assert version_of(servers, "main", "engarde", "madansara") == [(madansara,)]

    langflow = migrate(tmp_path, "langflow", env(deployed, "langflow-server")["LANGFLOW_DATABASE_URL"],
                       ["flow", "message", "folder"])  # fmt: skip
    assert tables_by_schema(servers, "main", "engarde") == after_madansara, "Langflow's migration touched main"
    flowdb = tables_by_schema(servers, "flowdb", "langflow")
    assert {"flow", "message", "folder", "alembic_version"} <= flowdb["public"]
    assert version_of(servers, "flowdb", "langflow", "public") == [(langflow,)]


def test_a_service_cannot_migrate_into_another_services_schema(deployed: Deployment, tmp_path: Path) -> None:
    sankore = env(deployed, "sankore-paidads")["DATABASE_URL"]
    with pytest.raises(Exception, match="permission denied"):
        migrate(tmp_path, "rogue", sankore, ["stolen"], version_schema="onside")


@pytest.fixture(scope="module")
def shared_deployment(servers: Servers) -> Iterator[Deployment]:
    """Shared placement on its own PostgreSQL server (roles are per server)."""
    with one_postgres(servers, "shared") as shared_servers:
        yield deploy(shared_servers, apply_to=("main",), langflowPlacement="shared")


def test_shared_placement_langflow_tables_land_in_its_schema_without_url_options(
    shared_deployment: Deployment, tmp_path: Path
) -> None:
    parsed = conninfo_to_dict(env(shared_deployment, "langflow-server")["LANGFLOW_DATABASE_URL"])
    assert parsed["options"] == "-c search_path=langflow"
    # Langflow's app replaces URL options with its own connect_args: only the role's search_path applies.
    dsn = postgres_url(user=str(parsed["user"]), password=str(parsed["password"]), host=str(parsed["host"]),
                       port=int(str(parsed["port"])), database=str(parsed["dbname"]))  # fmt: skip
    before = tables_by_schema(shared_deployment.servers, "main", "engarde")
    migrate(tmp_path, "langflow", dsn, ["flow", "message"])
    after = tables_by_schema(shared_deployment.servers, "main", "engarde")
    assert after["langflow"] - before.get("langflow", set()) == {"flow", "message", "alembic_version"}
    assert after["public"] == before["public"]
