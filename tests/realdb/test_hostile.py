"""Hostile config through the whole tool chain: `review plan` exits 0 or 2 (one line naming the key),
and names that pass validation but are SQL keywords are quoted correctly on a real server."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from psycopg.conninfo import conninfo_to_dict

from review.__main__ import main as review_main
from review.capture.program import PROJECT_DIR, unwrap_secrets
from tests.realdb.conftest import Deployment, Servers, admin, deploy, one_postgres
from tests.topology.test_config_properties import configs

CLI_CASES: list[int] = []


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("project")
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", directory / "Pulumi.yaml")
    return directory


def _plan(project: Path, config: dict[str, Any]) -> tuple[int, str, str]:
    document = {"config": {f"engarde:{key}": value for key, value in config.items()}}
    (project / "Pulumi.hostile.yaml").write_text(yaml.safe_dump(document, allow_unicode=True))
    out, err = io.StringIO(), io.StringIO()
    status = review_main(["plan", "--stack", "hostile", "--format", "sql"], out, err, project_dir=project)
    return status, out.getvalue(), err.getvalue()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=configs)
def test_review_plan_renders_or_names_the_key(project: Path, config: dict[str, Any]) -> None:
    status, out, err = _plan(project, config)
    CLI_CASES.append(status)
    assert status in (0, 2), err
    if status == 2:
        assert err.count("\n") == 1 and err.startswith("engarde:"), err
        assert out == ""
    else:
        assert "CREATE ROLE" in out


KEYWORD_SERVICES = {
    "select": {"image": "ghcr.io/engardehq/select:1.0.0", "reads": ["order"]},
    "order-items": {"image": "ghcr.io/engardehq/order-items:1.0.0", "schema": "order"},
    "user": {"image": "ghcr.io/engardehq/user:1.0.0", "schema": "user_", "reads": ["select"]},
}


@pytest.fixture(scope="module")
def keyword_deployment(servers: Servers) -> Iterator[Deployment]:
    with one_postgres(servers, "keywords") as keyword_servers:
        yield deploy(keyword_servers, apply_to=("main",), langflowPlacement="shared", services=KEYWORD_SERVICES)


def test_sql_keywords_as_names_create_exactly_the_named_objects(keyword_deployment: Deployment) -> None:
    with admin(keyword_deployment.servers.main, "engarde") as connection:
        owners = dict(
            connection.execute(
                "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = ANY(%s)",
                (["select", "order", "user_"],),
            ).fetchall()
        )
        groups = {row[0] for row in connection.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE '%%_read'")}
    assert owners == {"select": "select_user", "order": "order_user", "user_": "user__user"}
    assert {"select_read", "order_read", "user__read"} <= groups
    services = unwrap_secrets(keyword_deployment.capture.outputs["services"])
    url = services["select"]["env"]["DATABASE_URL"]
    assert conninfo_to_dict(url)["options"] == "-c search_path=select,public"
    with keyword_deployment.connect("main", "select_user") as connection:
        connection.execute("CREATE TABLE picks (id serial PRIMARY KEY)")
        assert connection.execute("SELECT current_schema()").fetchone() == ("select",)
        connection.commit()
    with keyword_deployment.connect("main", "user__user") as connection:
        assert connection.execute('SELECT count(*) FROM "select".picks').fetchone() == (0,)
